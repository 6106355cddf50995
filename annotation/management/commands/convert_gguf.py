from annotation.management.base import JsonCommand, progress
from annotation.selectors.model_versions import model_version_describe
from annotation.services.model_versions import model_version_from_gguf

STAGES = [
    "reading the header",
    "hashing the file",
    "reading the tokenizer",
    "de-quantising the weights",
    "saving safetensors",
]


class Command(JsonCommand):
    help = (
        "Convert a GGUF file (llama.cpp's format) into a Hugging Face model directory in MODEL_DIR and "
        "register it as a policy version. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("gguf", help="path to a .gguf file")
        parser.add_argument("--name", required=True, help="the model version's name (and its folder in MODEL_DIR)")
        parser.add_argument("--current", action="store_true", help="make it the current policy")

    def database_first(self, options):
        return True  # the conversion takes a minute; an unmigrated database should not wait for it

    def run(self, *, gguf, name, current, **_):
        with progress(total=len(STAGES), desc="convert", unit="step") as bar:

            def stage(label):
                if bar.n < len(STAGES) and label != STAGES[0]:
                    bar.update(1)
                bar.set_postfix_str(label)

            version, converted = model_version_from_gguf(gguf_path=gguf, name=name, current=current, stage=stage)
            bar.update(bar.total - bar.n)
        return {**model_version_describe(version), "converted": converted}
