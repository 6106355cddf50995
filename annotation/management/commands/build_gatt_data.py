from dataclasses import replace
from pathlib import Path

from django.core.exceptions import ValidationError

from annotation.management.base import JsonCommand, progress, trained_policy_register
from annotation.models import ModelVersion
from annotation.selectors.dialogue_paths import dialogue_chosen_paths
from annotation.selectors.model_versions import model_path_resolve
from reward_training.config import config_build
from reward_training.data.gatt import GattConfig, dialogue_from_messages, dialogues_read
from reward_training.data.gatt_instructions import DEFAULT_INSTRUCTIONS, instructions_load, instructions_verifiable
from reward_training.evaluation.adherence import adherence_plot
from reward_training.policy.ghost_attention import GATT_SFT, adherence_measure, gatt_data_build, gatt_train


class Command(JsonCommand):
    help = (
        "Ghost Attention (paper 3.3): sample multi-turn dialogues with a synthetic instruction on every user "
        "turn and write SFT rows that state it in the first turn only, loss on the last reply; optionally "
        "fine-tune on them, register the result and measure adherence by turn before and after."
    )

    def add_arguments(self, parser):
        parser.add_argument("--policy", required=True, help="registered policy name or model directory")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--dialogues", help='JSONL: one message list (or {"messages": [...]}) a line')
        source.add_argument("--from-platform", action="store_true", help="the chosen path of each annotated dialogue")
        parser.add_argument("--batch", action="append", help="with --from-platform: only these batches (repeatable)")
        parser.add_argument("--track", choices=["helpfulness", "safety"], help="with --from-platform: one track")
        parser.add_argument("--instructions", default=str(DEFAULT_INSTRUCTIONS), help="instruction file (JSON)")
        parser.add_argument("--output", required=True, help="the JSONL of training rows to write")
        parser.add_argument("--max-turns", type=int)
        parser.add_argument("--max-new-tokens", type=int)
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--config", help="JSON file of GattConfig fields")
        parser.add_argument("--train", metavar="DIR", help="fine-tune the policy on the rows into DIR")
        parser.add_argument("--sft-epochs", type=float)
        parser.add_argument("--sft-lr", type=float)
        parser.add_argument("--register", metavar="NAME", help="with --train: register the result (not made current)")
        parser.add_argument("--eval-dialogues", help="held-out dialogues (JSONL) to measure adherence by turn on")
        parser.add_argument(
            "--plot", help="with --eval-dialogues: the PNG of adherence by turn (default: beside --output)"
        )

    def database_first(self, options):
        return bool(options["register"] or options["from_platform"])

    def run(
        self,
        *,
        policy,
        dialogues,
        from_platform,
        batch,
        track,
        instructions,
        output,
        max_turns,
        max_new_tokens,
        temperature,
        seed,
        config,
        train,
        sft_epochs,
        sft_lr,
        register,
        eval_dialogues,
        plot,
        **_,
    ):
        if register and not train:
            raise ValidationError({"register": ["needs --train DIR: there is no fine-tuned model to register"]})
        if register and ModelVersion.objects.filter(name=register).exists():
            raise ValidationError({"register": [f"a model version named {register!r} already exists"]})
        policy_path, policy_version = model_path_resolve(policy, field="policy")
        try:
            settings_ = config_build(
                GattConfig,
                file=config,
                max_turns=max_turns,
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                seed=seed,
            )
        except (ValueError, TypeError) as error:
            raise ValidationError({"config": [str(error)]}) from error
        try:
            instruction_set = instructions_load(instructions)
        except ValueError as error:
            raise ValidationError({"instructions": [str(error)]}) from error
        try:
            if from_platform:
                paths = dialogue_chosen_paths(batches=batch, track=track)
                if not paths:
                    raise ValueError("no annotated dialogue matches")
                items = [dialogue_from_messages(p, max_turns=settings_.max_turns) for p in paths]
            else:
                items = dialogues_read(dialogues, max_turns=settings_.max_turns)
        except (ValueError, OSError) as error:
            raise ValidationError({"dialogues": [str(error)]}) from error
        heldout = None
        if eval_dialogues:
            try:
                heldout = dialogues_read(eval_dialogues, max_turns=settings_.max_turns)
                instructions_verifiable(instruction_set)
            except (ValueError, OSError) as error:
                raise ValidationError({"eval_dialogues": [str(error)]}) from error
        try:
            sft = replace(GATT_SFT, **{k: v for k, v in {"epochs": sft_epochs, "learning_rate": sft_lr}.items() if v})
        except ValueError as error:
            raise ValidationError({"sft": [str(error)]}) from error

        try:
            with progress(total=sum(len(d.users) for d in items), desc="GAtt sampling", unit="reply") as bar:
                result = gatt_data_build(
                    settings_,
                    policy_dir=policy_path,
                    dialogues=items,
                    instructions=instruction_set,
                    output=output,
                    on_replies=bar.update,
                )
            if train:
                metrics = gatt_train(sft, output, policy_path, train)
                result["sft"] = {
                    k: metrics[k] for k in ("steps", "examples", "trained_tokens", "loss_first", "loss_last", "seconds")
                }
                result["output_dir"] = str(Path(train).resolve())
            if heldout is not None:
                measure = dict(dialogues=heldout, instructions=instruction_set, seed=settings_.seed + 1)
                reports = {"before GAtt": adherence_measure(settings_, policy_dir=policy_path, **measure)}
                if train:
                    reports["after GAtt"] = adherence_measure(settings_, policy_dir=train, **measure)
                png = Path(plot) if plot else Path(output).with_suffix(".adherence.png")
                adherence_plot(reports, png, title=f"GAtt adherence by turn ({Path(policy_path).name})")
                result["adherence"] = {
                    label: {"all": r["all"], "by_kind": r["by_kind"]} for label, r in reports.items()
                }
                result["plot"] = str(png.resolve())
        except ValueError as error:  # a prompt too long for the model, no row left to train on
            raise ValidationError({"dialogues": [str(error)]}) from error
        if register:
            result["registered"] = trained_policy_register(
                register,
                path=train,
                parent=policy_version,
                policy=policy,
                method="ghost_attention",
                lineage={
                    "gatt_data": result["output"],
                    "instructions": str(Path(instructions).resolve()),
                    "instructions_version": instruction_set.version,
                    "rows": result["rows"],
                    "placement": result["placement"],
                    "loss_on": "last",
                },
                metrics={
                    "sft_loss_last": result["sft"]["loss_last"],
                    **({"adherence": result["adherence"]} if "adherence" in result else {}),
                },
            )
        return result
