from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.selectors.model_versions import model_path_resolve
from reward_training.reward.api import evaluate_reward_model


class Command(JsonCommand):
    help = "Pairwise accuracy of a reward model, overall and by strength (paper Table 8)."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="registered name or model directory")
        parser.add_argument("--data", required=True)
        parser.add_argument("--format", default="trl", choices=["trl", "hh-rlhf"])

    def run(self, *, model, data, format, **_):
        path, _version = model_path_resolve(model)
        if not Path(data).is_file():
            raise ValidationError({"data": [f"no such file: {data}"]})
        try:
            return evaluate_reward_model(path, data, format, progress=True)
        except ValueError as error:
            raise ValidationError({"data": [str(error)]}) from error
