"""PPO with the Llama 2 reward (paper 3.2.3): ppo_train(PPOConfig, ...).

Each iteration, every process:
1. takes its share of `batch_size` prompts and samples one response each from the current policy;
2. records, in a no-grad forward pass, the log-probs of the sampled tokens under π and π0 and
   the critic's values (rollout.py);
3. scores the responses: Rc from the reward models (or `reward_fn`), then WHITEN(LOGIT(Rc)) over
   the whole batch, less `missing_eos_penalty` for a response cut off at max_new_tokens, placed on
   the final token, minus β·KL(π ‖ π0) on every token (losses.py);
4. computes GAE advantages, then takes one gradient step per minibatch of the clipped policy loss
   plus the clipped value loss. Before the first step the trainer's log-probs of the first
   minibatch must equal the rollout's within `logprob_tolerance`, else LogprobMismatch is raised.
   With precision "bf16" the rollout (sampling included) and the update run under the same bf16 autocast.
β, when not set, comes from the policy's parameter count (PPOConfig.beta_choose); the summary says why.
Every `eval_every` iterations the mean Rc on held-out prompts is measured; the best policy so far
is written to output_dir, and training stops after `early_stopping_patience` evaluations without
improvement. The same code runs single-process or under `accelerate launch`.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer

from reward_training.config import config_dict
from reward_training.data.prompts import PromptItem
from reward_training.generation.loading import LoadedModel, context_length, eos_ids
from reward_training.model_size import parameter_count
from reward_training.policy.ppo.heldout import heldout_reward
from reward_training.policy.ppo.losses import early_stop, kl_per_token
from reward_training.policy.ppo.models import PolicyModel, precision_autocast
from reward_training.policy.ppo.ppo_config import PPOConfig
from reward_training.policy.ppo.rollout import RewardFn, Rollout, responses_sample, rm_reward_fn, rollout_evaluate
from reward_training.policy.ppo.saving import policy_save, reports_write
from reward_training.policy.ppo.update import (
    Gather,
    LogprobMismatch,
    adamw,
    advantages_compute,
    local_slice,
    ppo_update,
)
from reward_training.reward.model import RewardModel, dropout_disable, reward_model_load
from reward_training.reward.scorer import RewardScorer
from reward_training.tracking import RunTracker

__all__ = ["LogprobMismatch", "ppo_train", "prompt_schedule"]


def prompt_schedule(n_prompts: int, batch_size: int, seed: int, iteration: int) -> list[int]:
    """The prompt indices of iteration `iteration` (1-based): consecutive slices of a stream of
    seeded permutations, so every prompt is used once before any is used twice."""
    start, stop = (iteration - 1) * batch_size, iteration * batch_size
    out: list[int] = []
    for epoch in range(start // n_prompts, (stop - 1) // n_prompts + 1):
        order = torch.randperm(n_prompts, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
        lo, hi = max(start - epoch * n_prompts, 0), min(stop - epoch * n_prompts, n_prompts)
        out += order[lo:hi]
    return out


def _rollout(
    loaded: LoadedModel,
    policy: PolicyModel,
    reference: PolicyModel,
    critic: RewardModel | None,
    prompts: list[PromptItem],
    reward_fn: RewardFn,
    config: PPOConfig,
    seed: int,
) -> Rollout:
    policy.eval()
    with precision_autocast(config.precision, loaded.device):  # the update's precision: like with like
        prompt_ids, response_ids, texts, finished = responses_sample(
            loaded,
            prompts,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            seed=seed,
            batch_size=config.generation_batch_size,
        )
        logprobs, ref_logprobs, values, entropy, mask = rollout_evaluate(
            policy,
            reference,
            critic,
            prompt_ids,
            response_ids,
            pad_id=loaded.pad_token_id,
            temperature=config.temperature,
            batch_size=config.generation_batch_size,
            device=loaded.device,
        )
    rc = reward_fn(prompts, texts, response_ids).detach().float().cpu().reshape(-1)
    if rc.shape[0] != len(prompts):
        raise ValueError(f"the reward function returned {rc.shape[0]} values for {len(prompts)} responses")
    if not bool(((rc >= 0) & (rc <= 1)).all()):
        raise ValueError("the reward function must return Rc in (0, 1) (a probability, not a raw score)")
    m = mask.float()
    return Rollout(
        prompts=prompts,
        texts=texts,
        prompt_ids=prompt_ids,
        response_ids=response_ids,
        finished=finished,
        rc=rc,
        logprobs=logprobs * m,
        ref_logprobs=ref_logprobs * m,
        values=values * m,
        entropy=entropy * m,
        mask=mask,
    )


def ppo_train(
    config: PPOConfig,
    *,
    policy_dir: str | Path,
    helpfulness_rm_dir: str | Path | None = None,
    safety_rm_dir: str | Path | None = None,
    prompts: Sequence[PromptItem],
    heldout_prompts: Sequence[PromptItem] | None = None,
    output_dir: str | Path,
    reward_fn: RewardFn | None = None,
) -> dict[str, Any]:
    """Train the policy in policy_dir with PPO; write the result to output_dir; return a summary.

    Rc comes from the two reward models (sigmoid of their scores, paper's combination rule) unless
    `reward_fn(prompt_items, response_texts, response_token_ids) -> Tensor (N,)` is given: it must
    return Rc-like values in (0, 1) (probabilities, not raw scores), which then go through
    WHITEN(LOGIT(·)) like the reward models' Rc. helpfulness_rm_dir is also needed for
    critic="reward_model" (the critic starts from it; it must share the policy's tokenizer).

    output_dir receives the policy (Hugging Face format, loadable with generation.model_load; the
    best held-out policy when heldout_prompts are given, else the last), ppo_config.json,
    ppo_metrics.jsonl (one record per iteration), ppo_curves.png, ppo_summary.json and, for the
    value-head critic, value_head.pt.
    """
    if not prompts:
        raise ValueError("no training prompts")
    if reward_fn is None and (helpfulness_rm_dir is None or safety_rm_dir is None):
        raise ValueError("without reward_fn both helpfulness_rm_dir and safety_rm_dir are needed")
    if config.critic == "reward_model" and helpfulness_rm_dir is None:
        raise ValueError('critic="reward_model" starts from the helpfulness reward model: give helpfulness_rm_dir')
    use_cpu = config.device == "cpu" or not torch.cuda.is_available()
    run = RunTracker(
        config.tracker, output_dir=output_dir, config=config_dict(config), tracking_dir=config.tracking_dir
    )
    accelerator = Accelerator(
        mixed_precision="bf16" if config.precision == "bf16" else "no", cpu=use_cpu, log_with=run.trackers or None
    )
    world, rank, main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    per_process_minibatch = config.minibatch_size // world
    if config.batch_size % world or config.minibatch_size % world or per_process_minibatch % config.micro_batch_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) and minibatch_size ({config.minibatch_size}) must divide among "
            f"{world} processes, and each process's minibatch by micro_batch_size ({config.micro_batch_size})"
        )
    set_seed(config.seed)
    device = accelerator.device
    output_dir = Path(output_dir)
    started = time.perf_counter()

    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir), local_files_only=True)
    lm = AutoModelForCausalLM.from_pretrained(str(policy_dir), dtype=torch.float32, local_files_only=True)
    dropout_disable(lm)
    beta = config.beta_choose(parameter_count(lm))  # None: by the policy's size (paper: 0.01, 0.005 from 30B)
    config = dataclasses.replace(config, beta=beta["value"])
    reference = PolicyModel(copy.deepcopy(lm), value_head=False).to(device).eval()  # π0, frozen
    reference.requires_grad_(False)
    if config.gradient_checkpointing:
        lm.gradient_checkpointing_enable()
    policy = PolicyModel(lm, value_head=config.critic == "value_head").to(device)

    critic = None
    if config.critic == "reward_model":
        critic, critic_tokenizer = reward_model_load(helpfulness_rm_dir)
        if not critic.supports_prefix_sharing:
            raise ValueError(f"{helpfulness_rm_dir}: the critic needs a decoder reward model with a score head")
        if critic_tokenizer.get_vocab() != tokenizer.get_vocab():
            raise ValueError("the critic's reward model must use the policy's tokenizer")
        dropout_disable(critic)
        critic.to(device)

    optimizers = [adamw(policy, config, config.learning_rate, device)]
    if critic is not None:
        optimizers.append(adamw(critic, config, config.critic_learning_rate or config.learning_rate, device))
        wrapped_policy, wrapped_critic, *optimizers = accelerator.prepare(policy, critic, *optimizers)
        models = [wrapped_policy, wrapped_critic]
    else:
        wrapped_policy, *optimizers = accelerator.prepare(policy, *optimizers)
        wrapped_critic, models = None, [wrapped_policy]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids(lm, tokenizer)[0]
    # The rollout engine samples with the very weights being trained (no copy to keep in sync).
    loaded = LoadedModel(
        model=lm,
        tokenizer=tokenizer,
        device=device,
        dtype=torch.float32,
        max_length=context_length(lm, tokenizer),
        eos_token_ids=eos_ids(lm, tokenizer),
        pad_token_id=pad_id,
    )
    if reward_fn is None:
        reward_fn = rm_reward_fn(
            RewardScorer(helpfulness_rm_dir, device=str(device), batch_size=config.score_batch_size),
            RewardScorer(safety_rm_dir, device=str(device), batch_size=config.score_batch_size),
            config.safety_threshold,
            loaded.eos_token_ids,
        )
    gather = Gather(accelerator)
    heldout = list(heldout_prompts or [])

    summary: dict[str, Any] = {
        "output_dir": str(output_dir),
        "processes": world,
        "config": config_dict(config),
        "beta": beta,
    }  # the KL penalty used and why
    history: list[dict[str, Any]] = []
    heldout_history: list[float] = []
    best_iteration, stopped_early, saved_iteration = None, False, None

    def evaluate_and_keep(iteration: int) -> None:
        nonlocal best_iteration, saved_iteration
        policy.eval()
        reward = heldout_reward(loaded, heldout, reward_fn, config, gather, rank, world)
        heldout_history.append(reward)
        run.log({"heldout_reward": reward}, step=iteration)
        if history:
            history[-1]["heldout_reward"] = reward
        if reward > max(heldout_history[:-1], default=float("-inf")):
            best_iteration = iteration
            summary.update(best_iteration=iteration, best_heldout_reward=reward, heldout_rewards=heldout_history)
            if iteration > 0:  # π0 needs no copy on disk: the frozen reference holds it
                policy_save(accelerator, wrapped_policy, policy, tokenizer, config, output_dir, history, summary)
                saved_iteration = iteration

    run.start(accelerator)
    if heldout:
        evaluate_and_keep(0)
        summary["initial_heldout_reward"] = heldout_history[0]
    bar = tqdm(total=config.iterations, unit="it", desc="PPO", disable=not (config.progress and main), file=sys.stderr)
    for iteration in range(1, config.iterations + 1):
        began = time.perf_counter()
        batch = prompt_schedule(len(prompts), config.batch_size, config.seed, iteration)
        part = local_slice(len(batch), rank, world)
        mine = [prompts[i] for i in batch[part]]
        rollout = _rollout(
            loaded,
            policy,
            reference,
            critic,
            mine,
            reward_fn,
            config,
            seed=config.seed * 1_000_003 + iteration * config.batch_size + part.start,
        )
        advantages_compute(rollout, config, gather, rank)
        stats = ppo_update(
            accelerator, models, optimizers, wrapped_policy, wrapped_critic, rollout, config, pad_id, iteration, gather
        )
        mask = rollout.mask.float()
        n_tokens = float(mask.sum())
        record = {
            "iteration": iteration,
            "reward": gather.mean(float(rollout.rc.sum()), len(rollout)),
            "kl": gather.mean(
                float((kl_per_token(rollout.logprobs, rollout.ref_logprobs) * mask).sum()), n_tokens
            ),  # k1
            "kl_per_response": gather.mean(float(rollout.kl.sum()), len(rollout)),
            **{k: stats[k] for k in ("clip_fraction", "value_loss", "policy_loss", "value_clip_fraction", "approx_kl")},
            "response_length": gather.mean(n_tokens, len(rollout)),
            "finished_with_eos": gather.mean(float(rollout.finished.sum()), len(rollout)),
            "truncated": gather.mean(float((~rollout.finished).sum()), len(rollout)),  # cut off at max_new_tokens
            "missing_eos_penalty": gather.mean(
                config.missing_eos_penalty * float((~rollout.finished).sum()), len(rollout)
            ),  # mean penalty per rollout
            "entropy": gather.mean(float((rollout.entropy * mask).sum()), n_tokens),
            "logprob_max_diff": stats["logprob_max_diff"],
            "gradient_steps": stats["gradient_steps"],
            "seconds": time.perf_counter() - began,
        }
        history.append(record)
        generated = record["response_length"] * config.batch_size  # tokens sampled this iteration, all processes
        run.log({**record, "tokens_per_second": generated / record["seconds"]}, step=iteration)
        bar.update(1)
        bar.set_postfix(reward=f"{record['reward']:.3f}", kl=f"{record['kl']:.3f}")
        last = iteration == config.iterations
        if heldout and (iteration % config.eval_every == 0 or last):
            evaluate_and_keep(iteration)
            if early_stop(heldout_history, config.early_stopping_patience) and not last:
                stopped_early = True
                break
    bar.close()

    summary.update(
        tracking=run.finish(),
        iterations_run=len(history),
        stopped_early=stopped_early,
        seconds=time.perf_counter() - started,
        final=history[-1] if history else None,
        # the share of rollouts cut off at max_new_tokens, at the first and the last iteration run
        truncated={"first": history[0]["truncated"], "last": history[-1]["truncated"]} if history else None,
        saved_iteration=(saved_iteration or 0) if heldout else len(history),
    )
    if not heldout:
        policy_save(accelerator, wrapped_policy, policy, tokenizer, config, output_dir, history, summary)
    elif saved_iteration is None:  # no iteration beat the policy before PPO: keep π0
        policy_save(accelerator, reference, reference, tokenizer, config, output_dir, history, summary)
    elif main:  # the best policy is already there; bring its reports up to date
        reports_write(output_dir, history, summary)
    accelerator.wait_for_everyone()
    return {**summary, "history": history}
