import argparse
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from annotation.management.base import TrainingCommand, trained_policy_register
from annotation.selectors.model_versions import policy_and_reward_models_resolve
from annotation.services.training import policy_pool_dir, policy_pool_merge
from reward_training.config import config_build, config_file_read
from reward_training.data.prompts import prompts_read
from reward_training.policy.rejection_sampling import rejection_sample
from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig
from reward_training.policy.sample_pool import STAGED
from reward_training.policy.sample_pool import pool_dir as sample_pool_dir
from reward_training.policy.sft_config import SFTConfig


def _temperatures(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"give temperatures separated by commas, such as 0.8,1.0,1.2 (got {text!r})")


class Command(TrainingCommand):
    help = (
        "Best-of-K sampling under the combined reward, then fine-tuning on the best sample per prompt among the "
        "new ones and the lineage's re-scored pool. The new samples are staged in --output and join the pool "
        "when the policy is promoted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True)
        parser.add_argument("--helpfulness-rm", required=True)
        parser.add_argument("--safety-rm", required=True)
        parser.add_argument("--prompts", required=True, help="text (one prompt a line) or JSONL with a safety flag")
        parser.add_argument("--k", type=int, required=True)
        parser.add_argument(
            "--temperature", type=float, help="sampling temperature (required without --temperature-sweep)"
        )
        parser.add_argument(
            "--temperature-sweep",
            type=_temperatures,
            help="comma-separated temperatures to sweep on --sweep-prompts prompts first (paper Fig. 8): "
            "the one with the highest mean best-of-K reward replaces --temperature; the curves "
            "go to reward_vs_k_by_temperature.json / .png in --output",
        )
        parser.add_argument("--sweep-prompts", type=int, help="prompts the sweep samples (default 32)")
        parser.add_argument("--output", required=True)
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--sft-epochs", type=float)
        parser.add_argument("--sft-lr", type=float)
        parser.add_argument(
            "--pool",
            help="the lineage's sample pool (default: MODEL_DIR/rejection_pool/<first policy "
            "of --policy's parent chain>, or <the folder's name> for a path)",
        )
        parser.add_argument("--config", help="JSON file of RejectionSamplingConfig fields")
        parser.add_argument("--register", metavar="NAME", help="register the refreshed policy (not made current)")
        self.tracker_argument_add(parser)

    def run(
        self,
        *,
        policy,
        helpfulness_rm,
        safety_rm,
        prompts,
        k,
        temperature,
        temperature_sweep,
        sweep_prompts,
        output,
        max_new_tokens,
        seed,
        sft_epochs,
        sft_lr,
        pool,
        config,
        register,
        tracker,
        **_,
    ):
        if (
            temperature is None
            and not temperature_sweep
            and "temperature" not in (config_file_read(config) if config else {})
        ):
            raise ValidationError({"temperature": ["give --temperature or --temperature-sweep"]})
        policy_path, policy_version, helpfulness_path, safety_path = policy_and_reward_models_resolve(
            policy, helpfulness_rm, safety_rm
        )
        try:
            items = prompts_read(prompts)
            sft = SFTConfig(
                **{
                    **vars(RejectionSamplingConfig().sft),
                    **{
                        k_: v
                        for k_, v in {"epochs": sft_epochs, "learning_rate": sft_lr, "tracker": tracker}.items()
                        if v
                    },
                }
            )
            settings_ = config_build(
                RejectionSamplingConfig,
                file=config,
                k=k,
                temperature=temperature,
                temperature_sweep=temperature_sweep,
                sweep_prompts=sweep_prompts,
                max_new_tokens=max_new_tokens,
                seed=seed,
                sft=sft,
            )
        except (ValueError, OSError) as error:
            raise ValidationError({"prompts": [str(error)]}) from error
        if pool:
            pool_dir = Path(pool)
        elif policy_version is not None:
            pool_dir = policy_pool_dir(policy_version)
            policy_pool_merge(policy=policy_version)  # catch up on a policy promoted by hand
        else:
            pool_dir = sample_pool_dir(Path(settings.MODEL_DIR) / "rejection_pool", Path(policy_path).name)
        result = rejection_sample(
            settings_,
            policy_dir=policy_path,
            helpfulness_rm_dir=helpfulness_path,
            safety_rm_dir=safety_path,
            prompts=items,
            pool_dir=pool_dir,
            output_dir=output,
        )
        result["output_dir"] = str(Path(output).resolve())
        result["pool"], result["staged"] = str(pool_dir), str(Path(output).resolve() / STAGED)
        if register:
            result["registered"] = trained_policy_register(
                register,
                path=output,
                parent=policy_version,
                policy=policy,
                method="rejection_sampling",
                lineage={
                    "helpfulness_rm": helpfulness_rm,
                    "safety_rm": safety_rm,
                    "prompts": str(Path(prompts).resolve()),
                    "k": k,
                    "temperature": result["temperature"],
                    "temperature_sweep": temperature_sweep,
                    "pool": str(pool_dir),
                    "pool_iterations": result["pool_iterations"],
                },
                metrics={
                    "mean_best_reward": result["mean_best_reward"],
                    "mean_median_reward": result["mean_median_reward"],
                    "tracking": result["tracking"],
                },
            )
        result.pop("config", None)
        return result
