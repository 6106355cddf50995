from annotation.management.base import JsonCommand
from annotation.models import ModelVersion
from annotation.selectors.model_versions import model_version_describe, model_version_list


class Command(JsonCommand):
    help = "List registered model versions as JSON (one object per version, with lineage)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", choices=ModelVersion.Kind.values)

    def run(self, *, kind, **_):
        return [model_version_describe(v) for v in model_version_list(kind=kind)]
