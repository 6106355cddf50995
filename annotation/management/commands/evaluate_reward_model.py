from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand
from annotation.selectors.model_versions import model_path_resolve
from reward_training.evaluation.rewardbench import FORMATS as BENCHMARK_FORMATS
from reward_training.reward.api import evaluate_reward_benchmark, evaluate_reward_model


class Command(JsonCommand):
    help = (
        "Pairwise accuracy of a reward model, overall and by strength (paper Table 8); with --format "
        "rewardbench or rewardbench2, that benchmark's accuracy by subset and section and its score."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="the data file (or give --data)")
        parser.add_argument("--model", required=True, help="registered name or model directory")
        parser.add_argument("--data", help="the data file: JSONL; for the benchmarks also a JSON array or Parquet")
        parser.add_argument("--format", default="trl", choices=["trl", "hh-rlhf", *BENCHMARK_FORMATS])

    def run(self, *, model, file, data, format, **_):
        data = data or file
        if not data:
            raise ValidationError({"data": ["give the data file, as FILE or --data"]})
        if file and data != file:
            raise ValidationError({"data": ["give the data file once, as FILE or --data"]})
        path, _version = model_path_resolve(model)
        if not Path(data).is_file():
            raise ValidationError({"data": [f"no such file: {data}"]})
        try:
            if format in BENCHMARK_FORMATS:
                return evaluate_reward_benchmark(path, data, format)
            return evaluate_reward_model(path, data, format, progress=True)
        except ValueError as error:
            raise ValidationError({"data": [str(error)]}) from error
