"""What reward_train (reward_trainer.py) does after its last step: the final model directory (HF weights,
the model card with how it reads text, reward_config.json, trainer_state.json, the data manifest) and the
accuracy on the evaluation pairs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from reward_training.config import config_dict
from reward_training.data.pair_encoding import chat_format_resolve, pairs_tokenize
from reward_training.data.preferences import PreferencePair
from reward_training.evaluation.reward_accuracy import accuracy_report
from reward_training.reward.model import RewardModel
from reward_training.reward.reward_config import RewardConfig
from reward_training.reward.scorer import CARD_NAME, pairs_score


def final_save(
    output_dir: Path,
    model: RewardModel,
    tokenizer: Any,
    weights: dict[str, torch.Tensor],
    config: RewardConfig,
    state: dict[str, Any],
    result: dict[str, Any],
    manifest: dict[str, Any] | None,
    dropped: list[int],
    train_pairs: Sequence[PreferencePair],
) -> None:
    """The final model in HF format, with how it reads text, the training history and the data manifest."""
    from reward_training.data.mixtures import manifest_write

    output_dir.mkdir(parents=True, exist_ok=True)
    model.hf.save_pretrained(output_dir, state_dict=weights)
    tokenizer.save_pretrained(output_dir)
    fmt = chat_format_resolve(config.chat_format, tokenizer, encoder=model.encoder)
    card = {
        "kind": config.kind,
        "base_model": config.base_model,
        "max_length": config.max_length,
        "chat_format": "auto" if fmt == "template" else fmt,
        "encoder": model.encoder,
        "margin_table": config.margin_table,
    }
    (output_dir / CARD_NAME).write_text(json.dumps(card, indent=1))
    (output_dir / "reward_config.json").write_text(json.dumps(config_dict(config), indent=1))
    (output_dir / "trainer_state.json").write_text(json.dumps({**state, "step": result["steps"]}, indent=1))
    dropped_ids = [train_pairs[i].pair_id for i in dropped]
    manifest_write(
        output_dir,
        manifest or {"recipe": "none", "n_pairs": len(train_pairs)},
        extra={"dropped_identical": dropped_ids},
    )
    for old in output_dir.glob("checkpoint-*"):  # the final model supersedes them
        shutil.rmtree(old, ignore_errors=True)


def pairs_evaluate(
    model: RewardModel,
    tokenizer: Any,
    config: RewardConfig,
    pairs: Sequence[PreferencePair],
    device: torch.device,
    *,
    progress: bool = False,
) -> dict[str, Any]:
    model = model.to(device)
    tokenized, dropped = pairs_tokenize(
        pairs, tokenizer, max_length=config.max_length, encoder=model.encoder, chat_format=config.chat_format
    )
    chosen, rejected = pairs_score(
        model, tokenized, tokenizer.pad_token_id, batch_size=config.eval_batch_size, device=device, progress=progress
    )
    kept = [pairs[p.index] for p in tokenized]
    return accuracy_report(chosen, rejected, kept, dropped_identical=len(dropped))
