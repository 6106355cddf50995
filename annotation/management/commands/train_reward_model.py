from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import TrainingCommand
from annotation.management.lineage import data_lineage
from annotation.selectors.model_versions import model_describe_or_none, model_path_resolve
from annotation.services.model_versions import model_version_register
from reward_training.config import config_build, config_file_read
from reward_training.reward.api import train_reward_model
from reward_training.reward.reward_config import RewardConfig


class Command(TrainingCommand):
    help = "Train a helpfulness or safety reward model with the margin ranking loss (paper 3.2.2)."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=["helpfulness", "safety"])
        parser.add_argument("--base", required=True, help="registered model name or a local HF model directory")
        parser.add_argument("--data", action="append", required=True, help="repeatable")
        parser.add_argument("--output", required=True)
        parser.add_argument("--format", default="trl", choices=["trl", "hh-rlhf"])
        parser.add_argument("--margin", choices=["small", "large", "none"])
        parser.add_argument(
            "--mixture",
            choices=["helpfulness", "safety", "none"],
            help="data recipe (default: the paper's recipe for --kind on trl exports; none, i.e. every "
            "pair as given, on hh-rlhf files, which carry no platform track or source)",
        )
        parser.add_argument("--source", help="source name of pairs whose file does not say (default: hh-rlhf)")
        parser.add_argument(
            "--track",
            choices=["helpfulness", "safety"],
            help="track of pairs whose file does not say (default for hh-rlhf files: --kind)",
        )
        parser.add_argument("--epochs", type=int)
        parser.add_argument(
            "--lr",
            type=float,
            help="peak learning rate (default: from the base model's parameter count, 5e-6 from 60B "
            "on, else 1e-5, paper 3.2.2; the result's learning_rate says which and why)",
        )
        parser.add_argument("--batch-size", type=int, help="pairs per optimizer step (paper: 512)")
        parser.add_argument("--micro-batch-size", type=int)
        parser.add_argument("--max-length", type=int)
        parser.add_argument("--safety-aux-loss", action="store_true", default=None)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--config", help="a JSON file of RewardConfig fields (flags override it)")
        parser.add_argument("--eval", help="a held-out file in the same format")
        parser.add_argument("--register", metavar="NAME", help="add the result to the model registry")
        self.tracker_argument_add(parser)

    def run(
        self,
        *,
        kind,
        base,
        data,
        output,
        format,
        margin,
        mixture,
        source,
        track,
        epochs,
        lr,
        batch_size,
        micro_batch_size,
        max_length,
        safety_aux_loss,
        seed,
        config,
        eval,
        register,
        tracker,
        **_,
    ):
        base_path, _ = model_path_resolve(base, field="base")
        missing = [f for f in [*data, *([eval] if eval else [])] if not Path(f).is_file()]
        if missing:
            raise ValidationError({"data": [f"no such file: {', '.join(missing)}"]})
        try:
            if mixture is None and "mixture" not in (config_file_read(config) if config else {}):
                mixture = kind if format == "trl" else "none"  # HH files carry no platform track or source
            reward_config = config_build(
                RewardConfig,
                file=config,
                base_model=base_path,
                output_dir=output,
                kind=kind,
                mixture=mixture,
                margin_table=margin,
                epochs=epochs,
                learning_rate=lr,
                batch_size=batch_size,
                micro_batch_size=micro_batch_size,
                max_length=max_length,
                safety_aux_loss=safety_aux_loss,
                seed=seed,
                tracker=tracker,
            )
            result = train_reward_model(
                reward_config,
                data,
                format,
                eval_file=eval,
                source=source,
                track=track or (kind if format == "hh-rlhf" else None),
            )
        except ValueError as error:
            raise ValidationError({"config": [str(error)]}) from error
        if register:
            version = model_version_register(
                name=register,
                kind="reward",
                track=kind,
                path=result["output_dir"],
                lineage={
                    "base": base,
                    **(data_lineage(data) if format == "trl" else {"data_files": data}),
                    "data_manifest": str(Path(result["output_dir"]) / "data_manifest.json"),
                },
                metrics={
                    k: result.get(k)
                    for k in ("accuracy", "accuracy_by_strength", "pairs_per_second", "tracking", "learning_rate")
                },
            )
            result["registered"] = model_describe_or_none(version)
        return result
