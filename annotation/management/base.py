"""The shape every management command shares: a progress bar on stderr, one JSON line of results as
the last line of stdout, and a non-zero exit with a one-line reason on bad input."""

import json
import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from tqdm import tqdm

from annotation.errors import Conflict
from annotation.selectors.model_versions import model_describe_or_none
from annotation.services.model_versions import model_version_register
from reward_training.tracking import TRACKERS


def one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


def progress(iterable=None, **kwargs):
    """A tqdm bar on stderr."""
    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kwargs)


def database_name() -> str:
    database = connections[DEFAULT_DB_ALIAS].settings_dict
    if database["ENGINE"].endswith("sqlite3"):
        return f"SQLite {database['NAME']}"
    return f"{database.get('HOST') or 'localhost'}:{database.get('PORT') or 'default port'}/{database['NAME']}"


def database_check() -> None:
    """Refuse with one line when the database cannot be reached or is not migrated yet."""
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        raise CommandError(
            f"cannot reach the database ({database_name()}): {first_line(error)}; "
            "check DATABASE_URL and that the server is up"
        ) from error
    if pending:
        raise CommandError(
            f"the database ({database_name()}) is not migrated ({len(pending)} migrations "
            "pending): run `python manage.py migrate` first"
        )


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class JsonCommand(BaseCommand):
    """Subclasses implement run(**options) -> dict; the dict is printed as the final JSON line.

    An unmigrated or unreachable database gives one line that says what to run, not a traceback: a
    command whose first query fails is diagnosed then (so bad input is still reported as such), and one
    that would do long work before its first query (training that registers its result, the model
    conversion) checks the database first, through `database_first(options)`.
    """

    def database_first(self, options: dict) -> bool:
        return False

    def run(self, **options) -> dict:
        raise CommandError(f"{type(self).__module__} does not define run()")

    def handle(self, *args, **options):
        if self.database_first(options):
            database_check()
        try:
            result = self.run(**options)
        except ValidationError as error:
            raise CommandError(one_line(error)) from error
        except Conflict as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            database_check()  # not migrated, or not reachable: say so
            raise CommandError(f"database error ({database_name()}): {first_line(error)}") from error
        self.stdout.write(json.dumps(result, ensure_ascii=False, default=str))


def trained_policy_register(name: str, *, path, parent, policy: str, method: str, lineage: dict, metrics: dict) -> dict:
    """Register the policy a command trained into `path` as `name`, a child of the `parent` version (not made
    current); its lineage opens with the method and the parent as the user named it (`policy`). What
    model_describe_or_none says of the new version."""
    version = model_version_register(
        name=name,
        kind="policy",
        path=path,
        parent=parent,
        lineage={"method": method, "parent": policy, **lineage},
        metrics=metrics,
    )
    return model_describe_or_none(version)


class TrainingCommand(JsonCommand):
    """A command that trains for a long time and may `--register NAME` its result, with a `--tracker` flag.

    Subclasses call `tracker_argument_add(parser)` in add_arguments and define `--register` themselves.
    """

    def database_first(self, options):
        """Hours of training must not end in a registry that was never there."""
        return bool(options["register"])

    @staticmethod
    def tracker_argument_add(parser) -> None:
        parser.add_argument(
            "--tracker",
            choices=TRACKERS,
            help="where step metrics go (default tensorboard, beside "
            "--output in runs/; see reward_training/tracking.py)",
        )
