"""Supervised fine-tuning (Llama 2, 3.1): the trainer of SFTConfig (sft_config.py).

    from reward_training.policy.sft import sft_train
    from reward_training.policy.sft_config import SFTConfig
    metrics = sft_train(SFTConfig(epochs=2), dialogues, "models/base", "models/sft")

Examples are dialogues ending in an assistant reply (sft_data.sft_example builds one from a
prompt/answer pair). The loss is the mean next-token cross-entropy over the trained tokens of
each optimizer step: assistant turns only, the last assistant turn only (Ghost Attention), or
every token (pre-training on dialogue text), as `loss_on` says. Rejection-sampling fine-tuning
uses the same loss.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any, Iterable

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from reward_training.config import config_dict
from reward_training.data.chat import Message
from reward_training.io import directory_write_atomic
from reward_training.optim import param_groups
from reward_training.policy.sft_config import SFTConfig
from reward_training.policy.sft_data import (
    SFTTokens,
    sft_collate,
    sft_tokenize,
    sft_truncate,
    token_losses,
)
from reward_training.reward.schedule import lr_factor
from reward_training.runtime import device_pick
from reward_training.tracking import RunTracker

CONFIG_FILE = "sft_config.json"
METRICS_FILE = "sft_metrics.json"


def sft_encode(tokenizer: Any, examples: Iterable[list[Message]], config: SFTConfig) -> tuple[list[SFTTokens], int]:
    """Tokenize and truncate the examples; returns (kept, number dropped for having no loss tokens)."""
    kept, dropped = [], 0
    for messages in examples:
        tokens = sft_truncate(sft_tokenize(tokenizer, messages, loss_on=config.loss_on), config.max_length)
        if tokens.loss_tokens:
            kept.append(tokens)
        else:
            dropped += 1
    return kept, dropped


def _micro_batches(data: list[SFTTokens], config: SFTConfig, rng: random.Random) -> list[list[SFTTokens]]:
    """One epoch's micro-batches, grouped by optimizer step.

    Each step draws batch_size random examples; within the step they are sorted by length
    before being cut into micro-batches, so little padding is computed.
    """
    order = list(range(len(data)))
    rng.shuffle(order)
    micro: list[list[SFTTokens]] = []
    for start in range(0, len(order), config.batch_size):
        step = sorted((data[i] for i in order[start : start + config.batch_size]), key=lambda t: len(t.input_ids))
        micro += [step[j : j + config.micro_batch_size] for j in range(0, len(step), config.micro_batch_size)]
    return micro


@torch.no_grad()
def sft_evaluate(model: Any, data: list[SFTTokens], *, pad_token_id: int, micro_batch_size: int = 8) -> float:
    """Mean cross-entropy per trained token of `data` (model in eval mode while it runs)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    ordered = sorted(data, key=lambda t: len(t.input_ids))
    for start in range(0, len(ordered), micro_batch_size):
        batch = {
            k: v.to(device) for k, v in sft_collate(ordered[start : start + micro_batch_size], pad_token_id).items()
        }
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        total += token_losses(logits, batch["labels"]).item()
        count += int((batch["labels"][:, 1:] != -100).sum())
    model.train(was_training)
    return total / max(1, count)


def sft_fit(
    model: Any, tokenizer: Any, examples: Iterable[list[Message]], config: SFTConfig, *, run: RunTracker | None = None
) -> dict[str, Any]:
    """Fine-tune `model` in place; returns metrics (loss per step, tokens, time). `run` gets each step's
    loss, lr and tokens/s."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    data, dropped = sft_encode(tokenizer, examples, config)
    if not data:
        raise ValueError("no SFT example has a trained token left")
    steps_per_epoch = math.ceil(len(data) / config.batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)

    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    model.train()
    losses: list[float] = []
    trained_tokens = seen_tokens = 0
    started = time.perf_counter()
    bar = tqdm(total=total_steps, unit="step", desc="SFT", disable=not config.progress)
    step = 0
    while step < total_steps:
        epoch = _micro_batches(data, config, rng)
        for start in range(0, len(epoch), config.accumulation_steps):
            if step >= total_steps:
                break
            group = epoch[start : start + config.accumulation_steps]
            n_trained = sum(t.loss_tokens for batch in group for t in batch)
            for param_group in optimizer.param_groups:
                param_group["lr"] = config.learning_rate * lr_factor(
                    step,
                    total=total_steps,
                    warmup=config.warmup_steps,
                    schedule=config.lr_schedule,
                    floor=config.min_lr_ratio,
                )
            step_loss = 0.0
            step_began, step_tokens = time.perf_counter(), 0
            for micro in group:
                batch = {k: v.to(device) for k, v in sft_collate(micro, pad).items()}
                with autocast:
                    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                loss = token_losses(logits, batch["labels"]) / n_trained  # mean over the whole step's tokens
                loss.backward()
                step_loss += loss.item()
                step_tokens += int(batch["attention_mask"].sum())
            seen_tokens += step_tokens
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            trained_tokens += n_trained
            losses.append(step_loss)
            step += 1
            if run is not None:
                run.log(
                    {
                        "loss": step_loss,
                        "lr": optimizer.param_groups[0]["lr"],
                        "trained_tokens": n_trained,
                        "tokens_per_second": step_tokens / max(time.perf_counter() - step_began, 1e-9),
                    },
                    step=step,
                )
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}")
    bar.close()
    model.eval()
    seconds = time.perf_counter() - started
    return {
        "steps": step,
        "examples": len(data),
        "examples_dropped": dropped,
        "trained_tokens": trained_tokens,
        "tokens_per_second": seen_tokens / max(seconds, 1e-9),
        "seconds": seconds,
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "loss": losses,
    }


def sft_train(
    config: SFTConfig,
    examples: Iterable[list[Message]],
    base_model_dir: str | Path,
    output_dir: str | Path,
    *,
    save_dtype: torch.dtype | None = None,
    run: RunTracker | None = None,
) -> dict[str, Any]:
    """Fine-tune the causal LM in base_model_dir on `examples`; write it to output_dir atomically.

    output_dir gets the model and tokenizer (Hugging Face format), sft_config.json (this config
    and the base model) and sft_metrics.json; the metrics are also returned. `save_dtype` (e.g.
    torch.bfloat16) casts the saved weights. Step metrics go to config.tracker (metrics["tracking"] says
    where), or to `run`, a tracker the caller started and finishes (rejection sampling logs to it too).
    """
    device = device_pick(config.device)
    tokenizer = AutoTokenizer.from_pretrained(str(base_model_dir), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(base_model_dir), dtype=torch.float32, local_files_only=True)
    model.to(device)
    own_run = run is None
    if own_run:
        run = RunTracker(
            config.tracker, output_dir=output_dir, config=config_dict(config), tracking_dir=config.tracking_dir
        )
        run.start()
    metrics = sft_fit(model, tokenizer, examples, config, run=run)
    if own_run:
        metrics["tracking"] = run.finish()

    def write(tmp: Path) -> None:
        if save_dtype is not None:
            model.to(save_dtype)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CONFIG_FILE).write_text(json.dumps({**config_dict(config), "base_model": str(base_model_dir)}, indent=1))
        (tmp / METRICS_FILE).write_text(json.dumps(metrics, indent=1))

    directory_write_atomic(output_dir, write)
    return metrics
