"""The optional data-builder stages of an iteration: Ghost Attention and safety context distillation.

Each fine-tunes the iteration's refreshed policy and registers the result as its child, so the lineage
reads policy-iterN → policy-iterN-gatt → policy-iterN-gatt-cd.
"""

from __future__ import annotations

from pathlib import Path

from annotation.models import ModelVersion
from annotation.selectors.dialogue_paths import dialogue_chosen_paths
from annotation.services.model_versions import model_version_register
from reward_training.data.gatt import GattConfig, dialogue_from_messages
from reward_training.data.gatt_instructions import instructions_load
from reward_training.data.prompts import prompts_read
from reward_training.policy.context_distillation import (
    ContextDistillationConfig,
    SafetyPrompt,
    context_distill,
    preprompts_load,
)
from reward_training.policy.ghost_attention import GATT_SFT, gatt_data_build, gatt_train
from reward_training.policy.sft_config import SFTConfig


def policy_gatt(
    *,
    policy: ModelVersion,
    batches: list[str],
    workdir: Path,
    max_new_tokens: int = 64,
    sft_epochs: float = 1.0,
    sft_lr: float = GATT_SFT.learning_rate,
    seed: int = 0,
) -> tuple[ModelVersion, dict]:
    """GAtt on the chosen paths of the batches' annotated dialogues; the fine-tuned policy, registered."""
    paths = dialogue_chosen_paths(batches=batches)
    if not paths:
        raise ValueError(f"GAtt: no annotated dialogue in {', '.join(batches) or 'any batch'}")
    config = GattConfig(max_new_tokens=max_new_tokens, seed=seed, progress=False)
    dialogues = [dialogue_from_messages(p, max_turns=config.max_turns) for p in paths]
    instructions = instructions_load()
    rows_path = workdir / "gatt.jsonl"
    summary = gatt_data_build(
        config, policy_dir=policy.path, dialogues=dialogues, instructions=instructions, output=rows_path
    )
    output = workdir / f"{policy.name}-gatt"
    sft = SFTConfig(**{**vars(GATT_SFT), "epochs": sft_epochs, "learning_rate": sft_lr, "progress": False})
    metrics = gatt_train(sft, rows_path, policy.path, output)
    version = model_version_register(
        name=f"{policy.name}-gatt",
        kind="policy",
        path=str(output),
        parent=policy,
        lineage={
            "method": "ghost_attention",
            "parent": policy.name,
            "batches": batches,
            "gatt_data": str(rows_path),
            "instructions_version": instructions.version,
            "rows": summary["rows"],
            "placement": summary["placement"],
            "loss_on": "last",
        },
        metrics={"sft_loss_last": metrics["loss_last"]},
    )
    return version, {
        "rows": summary["rows"],
        "dialogues": summary["dialogues"],
        "placement": summary["placement"],
        "sft_loss_last": metrics["loss_last"],
    }


def policy_context_distill(
    *,
    policy: ModelVersion,
    safety_rm: ModelVersion,
    prompts_file: str,
    workdir: Path,
    max_new_tokens: int = 64,
    sft_epochs: float = 1.0,
    sft_lr: float = 1e-5,
    seed: int = 0,
) -> tuple[ModelVersion, dict]:
    """Targeted context distillation on the safety prompts of `prompts_file`; the distilled policy, registered."""
    prompts = [SafetyPrompt(p.messages) for p in prompts_read(prompts_file) if p.safety]
    if not prompts:
        raise ValueError(f"context distillation: {prompts_file} holds no safety prompt")
    base = ContextDistillationConfig()
    config = ContextDistillationConfig(
        max_new_tokens=max_new_tokens,
        seed=seed,
        progress=False,
        sft=SFTConfig(**{**vars(base.sft), "epochs": sft_epochs, "learning_rate": sft_lr, "progress": False}),
    )
    preprompts = preprompts_load()
    output = workdir / f"{policy.name}-cd"
    result = context_distill(
        config,
        policy_dir=policy.path,
        safety_rm_dir=safety_rm.path,
        prompts=prompts,
        preprompts=preprompts,
        output_dir=output,
    )
    version = model_version_register(
        name=f"{policy.name}-cd",
        kind="policy",
        path=str(output),
        parent=policy,
        lineage={
            "method": "safety_context_distillation",
            "parent": policy.name,
            "safety_rm": safety_rm.name,
            "prompts": prompts_file,
            "preprompts_version": preprompts.version,
            "kept": result["kept"],
            "kept_share": result["kept_share"],
        },
        metrics={"kept_share": result["kept_share"]},
    )
    return version, {
        k: result[k] for k in ("prompts", "kept", "kept_share", "mean_safety_with_preprompt", "mean_safety_without")
    }
