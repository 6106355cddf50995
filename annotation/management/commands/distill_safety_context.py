from dataclasses import replace
from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import TrainingCommand, progress, trained_policy_register
from annotation.models import ModelVersion
from annotation.selectors.model_versions import model_path_resolve
from reward_training.config import config_build
from reward_training.data.prompts import prompts_read
from reward_training.policy.context_distillation import (
    DEFAULT_PREPROMPTS,
    ContextDistillationConfig,
    context_distill,
    distillation_measure,
    preprompts_load,
    reward_model_check,
    safety_prompts_read,
)

STAGES = ("sampling", "scoring", "fine-tuning")


def _read(field: str, read, path: str):
    try:
        return read(path)
    except (ValueError, OSError) as error:
        raise ValidationError({field: [str(error)]}) from error


def reward_resolve(name: str, *, field: str, track: str) -> str:
    """The directory of a reward model of `track`; refuses a policy or the other track's model."""
    path, version = model_path_resolve(name, field=field)
    if version is not None and (version.kind != ModelVersion.Kind.REWARD or version.track != track):
        what = f"a {version.kind}" + (f" ({version.track})" if version.track else "")
        raise ValidationError({field: [f"{name!r} is {what}, not a {track} reward model"]})
    try:
        reward_model_check(path)
    except ValueError as error:
        raise ValidationError({field: [str(error)]}) from error
    return path


class Command(TrainingCommand):
    help = (
        "Targeted safety context distillation (paper 4.2.4): sample each safety prompt with and without a "
        "safety preprompt, keep the preprompted reply where the safety RM scores it higher, and fine-tune on "
        "the kept replies without the preprompt; optionally measure safety and helpfulness before and after."
    )

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="registered policy name or model directory")
        parser.add_argument("--safety-rm", required=True, help="registered safety reward model or its directory")
        parser.add_argument(
            "--prompts", required=True, help="adversarial prompts: text (one a line) or JSONL {prompt, category}"
        )
        parser.add_argument("--preprompts", default=str(DEFAULT_PREPROMPTS), help="preprompts file (JSON)")
        parser.add_argument("--output", required=True, help="directory of the distilled policy")
        parser.add_argument("--register", metavar="NAME", help="register the distilled policy (not made current)")
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--sft-epochs", type=float)
        parser.add_argument("--sft-lr", type=float)
        parser.add_argument("--config", help="JSON file of ContextDistillationConfig fields")
        parser.add_argument("--eval-prompts", help="held-out safety prompts: safety RM score and win rate before/after")
        parser.add_argument("--helpfulness-rm", help="with --helpfulness-prompts: the helpfulness reward model")
        parser.add_argument(
            "--helpfulness-prompts", help="held-out helpfulness prompts: helpfulness RM score before/after"
        )

    def run(
        self,
        *,
        policy,
        safety_rm,
        prompts,
        preprompts,
        output,
        register,
        max_new_tokens,
        temperature,
        seed,
        sft_epochs,
        sft_lr,
        config,
        eval_prompts,
        helpfulness_rm,
        helpfulness_prompts,
        **_,
    ):
        if register and ModelVersion.objects.filter(name=register).exists():
            raise ValidationError({"register": [f"a model version named {register!r} already exists"]})
        if bool(helpfulness_rm) != bool(helpfulness_prompts):
            raise ValidationError({"helpfulness_rm": ["--helpfulness-rm and --helpfulness-prompts go together"]})
        if Path(output).exists():
            raise ValidationError({"output": [f"{output} already exists; choose a new directory"]})
        policy_path, policy_version = model_path_resolve(policy, field="policy")
        safety_path = reward_resolve(safety_rm, field="safety_rm", track="safety")
        helpfulness_path = (
            reward_resolve(helpfulness_rm, field="helpfulness_rm", track="helpfulness") if helpfulness_rm else None
        )
        loaded_preprompts = _read("preprompts", preprompts_load, preprompts)
        items = _read("prompts", safety_prompts_read, prompts)
        heldout = _read("eval_prompts", safety_prompts_read, eval_prompts) if eval_prompts else None
        helpful = _read("helpfulness_prompts", prompts_read, helpfulness_prompts) if helpfulness_prompts else []
        if helpful and not heldout:
            raise ValidationError(
                {"helpfulness_prompts": ["measured only with --eval-prompts (held-out safety prompts)"]}
            )
        try:
            base = config_build(
                ContextDistillationConfig,
                file=config,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
            )
            sft_overrides = {k: v for k, v in {"epochs": sft_epochs, "learning_rate": sft_lr}.items() if v}
            settings_ = replace(base, sft=replace(base.sft, **sft_overrides))
        except (ValueError, TypeError) as error:
            raise ValidationError({"config": [str(error)]}) from error

        with progress(total=len(STAGES), desc="context distillation", unit="stage") as bar:

            def stage(name):
                bar.set_postfix_str(name)
                if name != STAGES[0]:
                    bar.update(1)

            try:
                result = context_distill(
                    settings_,
                    policy_dir=policy_path,
                    safety_rm_dir=safety_path,
                    prompts=items,
                    preprompts=loaded_preprompts,
                    output_dir=output,
                    on_stage=stage,
                )
            except ValueError as error:  # nothing kept, or a prompt too long for the model
                raise ValidationError({"prompts": [str(error)]}) from error
            bar.update(1)
        result["output_dir"] = str(Path(output).resolve())
        if heldout:
            result["measurement"] = distillation_measure(
                before_dir=policy_path,
                after_dir=output,
                safety_rm_dir=safety_path,
                safety_prompts=heldout,
                helpfulness_rm_dir=helpfulness_path,
                helpfulness_prompts=[p.messages for p in helpful],
                config=settings_,
            )
        if register:
            result["registered"] = trained_policy_register(
                register,
                path=output,
                parent=policy_version,
                policy=policy,
                method="safety_context_distillation",
                lineage={
                    "safety_rm": safety_rm,
                    "prompts": str(Path(prompts).resolve()),
                    "preprompts": str(Path(preprompts).resolve()),
                    "preprompts_version": result["preprompts_version"],
                    "kept": result["kept"],
                    "kept_share": result["kept_share"],
                },
                metrics={
                    "kept_share": result["kept_share"],
                    **({"measurement": result["measurement"]} if "measurement" in result else {}),
                },
            )
        result.pop("config", None)
        return result
