from annotation.management.base import JsonCommand
from annotation.selectors.model_versions import model_version_describe, model_version_get
from annotation.services.model_versions import model_version_set_current


class Command(JsonCommand):
    help = "Make a registered version current for its kind and track (promotion or rollback)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def run(self, *, name, **_):
        return model_version_describe(model_version_set_current(version=model_version_get(name=name)))
