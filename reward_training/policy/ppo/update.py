"""One PPO iteration's optimisation: per-token rewards and GAE advantages, then one gradient step per
minibatch of the clipped policy loss plus the clipped value loss, with the log-prob check before the
first step. Rows are split contiguously and equally between processes; whitening uses them all."""

from __future__ import annotations

import contextlib

import torch
from accelerate import Accelerator

from reward_training.optim import param_groups
from reward_training.policy.ppo.losses import (
    gae,
    kl_per_token,
    masked_mean,
    masked_whiten,
    missing_eos_penalize,
    policy_loss_clipped,
    token_rewards,
    value_loss_clipped,
)
from reward_training.policy.ppo.models import critic_values, policy_evaluate, precision_autocast, sequences_pack
from reward_training.policy.ppo.ppo_config import PPOConfig
from reward_training.policy.ppo.rollout import Rollout
from reward_training.policy.rewards import logit, whiten


class LogprobMismatch(RuntimeError):
    """The trainer's log-probs of the sampled tokens differ from the rollout's: the weights (or the
    sequence layout) the rollout used are not the ones being trained."""


def adamw(module: torch.nn.Module, config: PPOConfig, lr: float, device: torch.device) -> torch.optim.AdamW:
    return torch.optim.AdamW(
        param_groups(module, config.weight_decay),
        lr=lr,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
        fused=device.type in ("cpu", "cuda"),
    )


class Gather:
    """Cross-process reductions; rows are split contiguously and equally between processes."""

    def __init__(self, accelerator: Accelerator) -> None:
        self.acc = accelerator

    def rows(self, x: torch.Tensor) -> torch.Tensor:  # (n, ...) per process -> (world * n, ...)
        if self.acc.num_processes == 1:
            return x
        x = self.acc.pad_across_processes(x.to(self.acc.device), dim=1) if x.dim() > 1 else x.to(self.acc.device)
        return self.acc.gather(x).cpu()

    def mean(self, total: float, count: float) -> float:
        t = torch.tensor([total, count], dtype=torch.float64, device=self.acc.device)
        if self.acc.num_processes > 1:
            t = self.acc.reduce(t, reduction="sum")
        return (t[0] / t[1].clamp(min=1)).item()

    def max(self, value: float) -> float:
        t = torch.tensor([value], device=self.acc.device)
        return float(self.acc.gather(t).max()) if self.acc.num_processes > 1 else value


def local_slice(n_global: int, rank: int, world: int) -> slice:
    """This process's contiguous share of n_global rows."""
    per = -(-n_global // world)
    return slice(min(rank * per, n_global), min((rank + 1) * per, n_global))


def advantages_compute(rollout: Rollout, config: PPOConfig, gather: Gather, rank: int) -> None:
    """Fill rollout.kl / rewards / advantages / returns; the score and advantage whitening use the whole batch."""
    n, t_max = rollout.logprobs.shape
    mask = rollout.mask.float()
    all_scores = whiten(logit(gather.rows(rollout.rc.float())))  # (world * n,) WHITEN(LOGIT(Rc))
    score = all_scores[rank * n : (rank + 1) * n]  # (n,)
    score = missing_eos_penalize(
        score, rollout.finished, config.missing_eos_penalty
    )  # (n,) cut-off replies less the penalty
    rollout.kl = kl_per_token(rollout.logprobs, rollout.ref_logprobs, config.kl_estimator) * mask  # (n, T)
    rollout.rewards = token_rewards(score, rollout.kl, mask, config.beta)  # (n, T)
    rollout.advantages, rollout.returns = gae(rollout.rewards, rollout.values, mask, config.gamma, config.lam)
    if config.whiten_advantages:
        all_adv, all_mask = gather.rows(rollout.advantages), gather.rows(mask)
        rollout.advantages = masked_whiten(all_adv, all_mask)[rank * n : (rank + 1) * n, :t_max]


def ppo_update(
    accelerator: Accelerator,
    models: list[torch.nn.Module],
    optimizers: list[torch.optim.Optimizer],
    policy: torch.nn.Module,
    critic: torch.nn.Module | None,
    rollout: Rollout,
    config: PPOConfig,
    pad_id: int,
    iteration: int,
    gather: Gather,
) -> dict[str, float]:
    """ppo_epochs passes over the rollouts, one gradient step per minibatch (micro-batches accumulate).

    Returns the mean losses and clip fractions over the steps, and the log-prob check's max difference.
    """
    world = accelerator.num_processes
    n = len(rollout)
    minibatch, micro = config.minibatch_size // world, config.micro_batch_size
    generator = torch.Generator().manual_seed(config.seed * 100_003 + iteration)
    sums = {"policy_loss": 0.0, "value_loss": 0.0, "clip_fraction": 0.0, "value_clip_fraction": 0.0, "approx_kl": 0.0}
    steps = 0
    max_diff = 0.0
    for m in models:
        m.train()
    for _epoch in range(config.ppo_epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, minibatch):
            rows = order[start : start + minibatch]
            n_tokens = float(rollout.mask[rows].sum())
            chunks = [rows[c : c + micro] for c in range(0, len(rows), micro)]
            step = {k: 0.0 for k in sums}
            for k, chunk in enumerate(chunks):
                idx = chunk.tolist()
                packed = sequences_pack(
                    [rollout.prompt_ids[i] for i in idx], [rollout.response_ids[i] for i in idx], pad_id, left_pad=False
                ).to(accelerator.device)
                t_c = packed.mask.shape[1]
                mask = packed.mask.float()
                take = lambda x: x[chunk, :t_c].to(accelerator.device)  # noqa: E731  (b, t_c)
                old_logprobs, old_values = take(rollout.logprobs), take(rollout.values)
                advantages, returns = take(rollout.advantages), take(rollout.returns)
                sync = contextlib.ExitStack()
                if k < len(chunks) - 1:
                    for m in models:
                        sync.enter_context(accelerator.no_sync(m))
                with sync:
                    with precision_autocast(config.precision, accelerator.device):  # the rollout's precision
                        evaluated = policy_evaluate(policy, packed, config.temperature)
                        values = evaluated.values if critic is None else critic_values(critic, packed)
                    if steps == 0:  # before the first update: the weights must be the rollout's
                        diff = ((evaluated.logprobs.detach() - old_logprobs).abs() * mask).max().item()
                        max_diff = max(max_diff, diff)
                    pg_loss, clip_fraction = policy_loss_clipped(
                        evaluated.logprobs, old_logprobs, advantages, mask, config.clip_range
                    )
                    v_loss, v_clip_fraction = value_loss_clipped(
                        values, old_values, returns, mask, config.value_clip_range
                    )
                    weight = float(mask.sum()) / max(n_tokens, 1.0)  # minibatch-token mean over micro-batches
                    accelerator.backward((pg_loss + config.value_loss_coef * v_loss) * weight)
                with torch.no_grad():
                    log_ratio = evaluated.logprobs.detach() - old_logprobs
                    approx_kl = masked_mean(torch.expm1(log_ratio) - log_ratio, mask)  # KL(π_old ‖ π), k3
                for key, value in (
                    ("policy_loss", pg_loss),
                    ("value_loss", v_loss),
                    ("clip_fraction", clip_fraction),
                    ("value_clip_fraction", v_clip_fraction),
                    ("approx_kl", approx_kl),
                ):
                    step[key] += float(value.detach()) * weight
            if steps == 0:
                max_diff = gather.max(max_diff)
                if max_diff > config.logprob_tolerance:
                    raise LogprobMismatch(
                        f"iteration {iteration}: the trainer's log-probs differ from the rollout's by up to "
                        f"{max_diff:.3g} (tolerance {config.logprob_tolerance:g}): the policy that sampled is "
                        "not the policy being trained"
                    )
            if config.max_grad_norm > 0:
                for m in models:
                    accelerator.clip_grad_norm_(m.parameters(), config.max_grad_norm)
            for opt in optimizers:
                opt.step()
                opt.zero_grad(set_to_none=True)
            for key in sums:
                sums[key] += step[key]
            steps += 1
    for m in models:
        m.eval()
    out = {k: gather.mean(v, steps) for k, v in sums.items()}
    out["logprob_max_diff"] = max_diff
    out["gradient_steps"] = steps
    return out
