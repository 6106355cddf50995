"""The shape every management command shares: a progress bar on stderr, one JSON line of results as
the last line of stdout, and a non-zero exit with a one-line reason on bad input."""

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from annotation.errors import Conflict


def one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


def progress(iterable=None, **kwargs):
    """A tqdm bar on stderr."""
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kwargs)


class JsonCommand(BaseCommand):
    """Subclasses implement run(**options) -> dict; the dict is printed as the final JSON line."""

    def run(self, **options) -> dict:
        raise CommandError(f"{type(self).__module__} does not define run()")

    def handle(self, *args, **options):
        try:
            result = self.run(**options)
        except ValidationError as error:
            raise CommandError(one_line(error)) from error
        except Conflict as error:
            raise CommandError(str(error)) from error
        self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))
