"""Reward-model training (Llama 2, 3.2.2), configured by RewardConfig.

The same code runs single-process or under `accelerate launch` (DDP, FSDP, DeepSpeed): the batch
of an optimizer step is planned from the seed for all processes at once, each process takes its
share, and the loss is normalised by the step's global pair count, so the gradient (and the
result) does not depend on the number of processes or the micro-batch size.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, set_seed
from tqdm import tqdm

from reward_training.config import config_dict
from reward_training.data.pair_encoding import pairs_tokenize
from reward_training.data.preferences import PreferencePair
from reward_training.evaluation.reward_accuracy import report_write
from reward_training.model_size import parameter_count
from reward_training.optim import param_groups
from reward_training.reward.batching import collate, step_micro_batches, steps_plan
from reward_training.reward.checkpoint import checkpoint_latest, checkpoint_load, checkpoint_save, checkpoint_state
from reward_training.reward.final import final_save, pairs_evaluate
from reward_training.reward.losses import margin_of, ranking_loss, safety_auxiliary_loss
from reward_training.reward.model import dropout_disable, reward_model_load
from reward_training.reward.reward_config import DEFAULT_MICRO_BATCH, RewardConfig
from reward_training.reward.schedule import lr_factor, warmup_steps
from reward_training.reward.scorer import RewardScorer
from reward_training.tracking import RunTracker

logger = logging.getLogger(__name__)

# Settings that must not change between a checkpoint and its resumption.
_RESUME_KEYS = (
    "base_model",
    "epochs",
    "batch_size",
    "seed",
    "max_length",
    "margin_table",
    "length_grouping",
    "length_group_pairs",
)


def _mixed_precision(config: RewardConfig) -> str:
    if config.precision == "bf16":
        return "bf16"
    if config.precision == "auto" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def reward_train(
    config: RewardConfig,
    train_pairs: Sequence[PreferencePair],
    *,
    eval_pairs: Sequence[PreferencePair] | None = None,
    manifest: dict[str, Any] | None = None,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Train a reward model on `train_pairs`; write it (HF format) and its metrics to config.output_dir.

    Returns a JSON-ready dict: accuracy / accuracy_by_strength (on eval_pairs, None without),
    pairs_per_second, output_dir, n_train_pairs, dropped_identical, steps, train_loss, ...
    `on_step(step, total_steps)` is called after each optimizer step (and its checkpoint), on every process.
    """
    run = RunTracker(config.tracker, output_dir=config.output_dir, tracking_dir=config.tracking_dir)  # config: at start
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(config), cpu=not torch.cuda.is_available(), log_with=run.trackers or None
    )
    main = accelerator.is_main_process
    if accelerator.distributed_type == DistributedType.DEEPSPEED:  # its engine steps per micro-batch, not per batch
        raise ValueError("DeepSpeed is not supported by the reward-model trainer: launch with DDP or FSDP")
    world, rank = accelerator.num_processes, accelerator.process_index
    set_seed(config.seed)
    output_dir = Path(config.output_dir)

    model, tokenizer = reward_model_load(config.base_model, seed=config.seed, own_pad=True)
    if config.disable_dropout:
        dropout_disable(model)
    packed = config.prefix_sharing and model.supports_prefix_sharing
    pad_id = tokenizer.pad_token_id

    tokenized, dropped = pairs_tokenize(
        train_pairs, tokenizer, max_length=config.max_length, encoder=model.encoder, chat_format=config.chat_format
    )
    if not tokenized:
        raise ValueError("no training pairs left (all identical after truncation, or none given)")
    # unset: the paper's batch, epochs and learning rate (by model size), or the small-data ones (reward_config.py)
    chosen = config.data_size_choose(len(tokenized), parameter_count(model))
    learning_rate = chosen["learning_rate"]
    batch_size = chosen["batch_size"]["value"]
    config = replace(
        config,
        batch_size=batch_size,
        epochs=chosen["epochs"]["value"],
        learning_rate=learning_rate["value"],
        micro_batch_size=min(config.micro_batch_size or DEFAULT_MICRO_BATCH, batch_size),
    )
    if main:
        for setting in chosen.values():
            logger.info("reward model: %s", setting["reason"])
    lengths = [p.packed_length if packed else p.plain_length for p in tokenized]
    margins = torch.tensor([margin_of(train_pairs[p.index].strength, config.margin_table) for p in tokenized])  # (P,)
    safe = torch.tensor(
        [[_label(train_pairs[p.index].chosen_safe), _label(train_pairs[p.index].rejected_safe)] for p in tokenized]
    )  # (P, 2), nan where unknown
    plan = [
        step
        for epoch in range(config.epochs)
        for step in steps_plan(
            lengths,
            batch_size=config.batch_size,
            seed=config.seed,
            epoch=epoch,
            length_grouping=config.length_grouping,
            group_pairs=config.length_group_pairs,
        )
    ]
    total = len(plan)
    warmup = warmup_steps(
        total, ratio=config.warmup_ratio, minimum=config.warmup_min_steps, max_fraction=config.warmup_max_fraction
    )

    model.to(accelerator.device)
    optimizer = torch.optim.AdamW(
        param_groups(model, config.weight_decay),
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
        fused=accelerator.device.type in ("cpu", "cuda"),  # one kernel per step: the same AdamW, ~9x faster on CPU
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, warmup=warmup, total=total, floor=config.min_lr_ratio)
    )
    wrapped, optimizer = accelerator.prepare(model, optimizer)
    device = accelerator.device

    state: dict[str, Any] = {"config": config_dict(config), "total_steps": total, "warmup_steps": warmup, "history": []}
    start_step = 0
    # Our checkpoints hold whole weights and optimizer state, which FSDP shards across processes: under it
    # only the final model is written (gathered), and a killed run starts over.
    sharded = accelerator.distributed_type == DistributedType.FSDP
    checkpointing = config.save_every_steps > 0 and not sharded
    if sharded and main and (config.save_every_steps or config.resume):
        logger.warning("FSDP shards the model: no intermediate checkpoints, no resume")
    latest = checkpoint_latest(output_dir) if config.resume and not sharded else None
    if latest is not None:
        saved = checkpoint_state(latest)
        changed = [k for k in _RESUME_KEYS if saved["config"].get(k) != getattr(config, k)]
        if changed or saved["total_steps"] != total:
            raise ValueError(f"{latest}: cannot resume, settings changed: {', '.join(changed) or 'total_steps'}")
        state = checkpoint_load(latest, hf_model=model.hf, optimizer=optimizer, scheduler=scheduler)
        state["config"] = config_dict(config)
        state.setdefault("resumed_from", []).append(state["step"])
        start_step = state["step"]
    accelerator.wait_for_everyone()

    run.start(accelerator, config=config_dict(config))  # with the batch, epochs and lr resolved above
    bar = tqdm(
        total=total,
        initial=start_step,
        disable=not (progress and main),
        file=sys.stderr,
        desc="reward model",
        unit="step",
    )
    wrapped.train()
    train_seconds = cpu_seconds = 0.0  # wall-clock and process CPU time of the optimizer steps
    pairs_done = 0
    for step in range(start_step, total):
        began, began_cpu = time.perf_counter(), time.process_time()
        ids = plan[step]
        n_step = len(ids)
        n_labelled = int((~torch.isnan(safe[ids])).sum()) if config.safety_aux_loss else 0
        micro = step_micro_batches(
            ids,
            lengths,
            micro_batch_size=config.micro_batch_size,
            rank=rank,
            world=world,
            length_grouping=config.length_grouping,
        )
        weight = 1.0
        if not micro:  # fewer pairs in this step than processes: a zero-weight pass keeps DDP in step
            micro, weight = [ids[:1]], 0.0
        totals = torch.zeros(3, device=device)  # loss sum, correct, pairs
        for k, chunk in enumerate(micro):
            batch = collate([tokenized[i] for i in chunk], pad_id, packed=packed)
            sync = k == len(micro) - 1
            with nullcontext() if sync else accelerator.no_sync(wrapped):
                r_c, r_r = batch.split(wrapped(**batch.model_inputs(device)))  # (b,), (b,)
                pair_loss = ranking_loss(r_c, r_r, margins[chunk].to(device))  # (b,)
                loss = pair_loss.sum() * (world / n_step)
                if n_labelled:
                    labels = safe[chunk].to(device)  # (b, 2)
                    rewards = torch.stack([r_c, r_r], dim=1)  # (b, 2)
                    known = ~torch.isnan(labels)
                    aux = safety_auxiliary_loss(rewards[known], labels[known])
                    loss = loss + config.safety_aux_weight * aux.sum() * (world / n_labelled)
                accelerator.backward(loss * weight)
            totals += (
                torch.stack(
                    [
                        pair_loss.detach().sum(),
                        (r_c > r_r).sum().float(),
                        torch.tensor(float(len(chunk)), device=device),
                    ]
                )
                * weight
            )
        if config.max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(wrapped.parameters(), config.max_grad_norm)
        else:
            grad_norm = torch.tensor(0.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        totals = accelerator.reduce(totals, reduction="sum")
        seconds = time.perf_counter() - began
        train_seconds += seconds
        cpu_seconds += time.process_time() - began_cpu
        pairs_done += n_step
        record = {
            "step": step + 1,
            "loss": (totals[0] / totals[2]).item(),
            "accuracy": (totals[1] / totals[2]).item(),
            "lr": scheduler.get_last_lr()[0],
            "grad_norm": float(grad_norm),
        }
        state["history"].append(record)
        run.log(
            {
                **record,
                "pairs_per_second": n_step / seconds,
                "tokens_per_second": sum(lengths[i] for i in ids) / seconds,
            },
            step=step + 1,
        )
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.3f}")
        last = step + 1 == total
        if checkpointing and (step + 1) % config.save_every_steps == 0 and not last:
            if main:
                checkpoint_save(
                    output_dir,
                    step=step + 1,
                    hf_model=model.hf,
                    tokenizer=tokenizer,
                    optimizer=optimizer,
                    scheduler=scheduler,
                    state=state,
                )
            accelerator.wait_for_everyone()
        if on_step is not None:
            on_step(step + 1, total)
    bar.close()
    tracking = run.finish()

    history = state["history"]
    result: dict[str, Any] = {
        "output_dir": str(output_dir),
        "kind": config.kind,
        "n_train_pairs": len(tokenized),
        "dropped_identical": len(dropped),
        "steps": total,
        "warmup_steps": warmup,
        "resumed_from": state.get("resumed_from", []),
        "learning_rate": learning_rate,  # the peak learning rate and why (set, or derived from the model size)
        "batch_size": chosen["batch_size"],  # and the batch and epochs: set, or derived from the data size
        "epochs": chosen["epochs"],
        "prefix_sharing": packed,
        "length_grouping": config.length_grouping,
        "processes": world,
        "train_loss": sum(h["loss"] for h in history[-10:]) / max(1, len(history[-10:])),
        "pairs_per_second": pairs_done / train_seconds if train_seconds else None,
        "train_seconds": train_seconds,
        "train_cpu_seconds": cpu_seconds,
        "accuracy": None,
        "accuracy_by_strength": None,
        "tracking": tracking,
    }
    full_state = accelerator.get_state_dict(wrapped)  # on every process: FSDP / DeepSpeed gather shards here
    if main:
        weights = {k[len("hf.") :]: v for k, v in full_state.items() if k.startswith("hf.")}
        final_save(output_dir, model, tokenizer, weights, config, state, result, manifest, dropped, train_pairs)
        if eval_pairs:
            if sharded:  # this process holds only a shard: score the gathered model just written
                scorer = RewardScorer(output_dir, device=str(device), batch_size=config.eval_batch_size)
                model, tokenizer = scorer.model, scorer.tokenizer
            report = pairs_evaluate(model, tokenizer, config, eval_pairs, device, progress=progress)
            result["eval"] = report_write(report, output_dir)
            result.update(accuracy=report["accuracy"], accuracy_ci95=report["ci95"], n_eval=report["n"])
            result["accuracy_by_strength"] = report["accuracy_by_strength"]
            result["eval_dropped_identical"] = report["dropped_identical"]
        (output_dir / "train_result.json").write_text(json.dumps(result, indent=1))
    accelerator.wait_for_everyone()
    return result


def _label(value: bool | None) -> float:
    return math.nan if value is None else float(value)
