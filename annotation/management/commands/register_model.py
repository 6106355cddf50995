from annotation.management.base import JsonCommand
from annotation.models import ModelVersion, Track
from annotation.selectors.model_versions import model_version_describe, model_version_get
from annotation.services.model_versions import model_version_register


class Command(JsonCommand):
    help = (
        "Add a policy or reward checkpoint (a Hugging Face model directory) to the registry, or a policy that "
        "an OpenAI-compatible server (vLLM, SGLang, TGI, transformers serve) samples: --endpoint and --served-name."
    )

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=ModelVersion.Kind.values)
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--path", default="", help="a local Hugging Face model directory (optional with --endpoint)"
        )
        parser.add_argument(
            "--endpoint", default="", help="an OpenAI-compatible server's base URL, e.g. http://vllm:8000/v1"
        )
        parser.add_argument("--served-name", default="", help="with --endpoint: the model name the server serves")
        parser.add_argument("--track", choices=Track.values, default="", help="reward models only")
        parser.add_argument("--parent", help="the registered version this one was trained from")
        parser.add_argument("--current", action="store_true", help="make it the current version of its kind/track")

    def run(self, *, kind, name, path, endpoint, served_name, track, parent, current, **_):
        version = model_version_register(
            name=name,
            kind=kind,
            path=path,
            endpoint_url=endpoint,
            served_name=served_name,
            track=track,
            parent=model_version_get(name=parent) if parent else None,
            current=current,
        )
        return model_version_describe(version)
