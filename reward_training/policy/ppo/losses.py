"""The PPO maths as small pure functions on toy-sized tensors (Llama 2, 3.2.3; Schulman et al. 2017).

Token tensors are (N, T): N responses, right-padded to T tokens, with `mask` 1 on real response
tokens (a prefix of each row). The score-function reward (WHITEN(LOGIT(Rc))) is in
reward_training.policy.rewards; here is what turns it into per-token rewards, advantages and losses.
"""

from __future__ import annotations

import torch


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # x, mask (N, T) -> ()
    """Mean of x over the positions where mask is 1 (0 when the mask is empty)."""
    mask = mask.to(x.dtype)
    return (x * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:  # (N, T)
    """(x - mean) / std over the masked positions (population std); 0 off the mask."""
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    return (x - mean) * torch.rsqrt(var + eps) * mask.to(x.dtype)


def kl_per_token(
    logprobs: torch.Tensor,  # (N, T) log π(y_t | ...) of the sampled tokens
    ref_logprobs: torch.Tensor,  # (N, T) log π0(y_t | ...)
    estimator: str = "k1",
) -> torch.Tensor:  # (N, T)
    """A per-token estimate of KL(π ‖ π0) from tokens sampled from π (Schulman, "Approximating KL", 2020).

    k1 = log π - log π0 (unbiased, can be negative per token; InstructGPT and Llama 2's penalty);
    k3 = r - 1 - log r with r = π0 / π (unbiased and never negative).
    """
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f'unknown KL estimator {estimator!r}: "k1" or "k3"')


def missing_eos_penalize(
    score: torch.Tensor,  # (N,) the sequence score, e.g. WHITEN(LOGIT(Rc))
    finished: torch.Tensor,  # (N,) bool: the response ended with EOS
    penalty: float,
) -> torch.Tensor:  # (N,)
    """The score less `penalty` for each response cut off at max_new_tokens (TRL's missing_eos_penalty)."""
    return score - penalty * (~finished).to(score.dtype)


def token_rewards(
    score: torch.Tensor,  # (N,) the sequence score, e.g. WHITEN(LOGIT(Rc))
    kl: torch.Tensor,  # (N, T) per-token KL estimate
    mask: torch.Tensor,  # (N, T)
    beta: float,
) -> torch.Tensor:  # (N, T)
    """R(g|p) = R̃c(g|p) - β·KL(π ‖ π0) per token (paper eq. 2): -β·KL on every response token,
    plus the score on the final one."""
    mask = mask.to(kl.dtype)
    rewards = -beta * kl * mask  # (N, T)
    last = (mask.sum(dim=1).long() - 1).clamp(min=0)  # (N,) index of each row's final token
    rows = torch.arange(rewards.shape[0], device=rewards.device)
    rewards[rows, last] += score.to(rewards.dtype) * (mask.sum(dim=1) > 0).to(rewards.dtype)
    return rewards


def gae(
    rewards: torch.Tensor,  # (N, T)
    values: torch.Tensor,  # (N, T) V(s_t), the value before emitting token t
    mask: torch.Tensor,  # (N, T)
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:  # advantages (N, T), returns (N, T)
    """Generalised advantage estimation (Schulman et al. 2016):
    δ_t = r_t + γ·V(s_{t+1}) - V(s_t),  A_t = δ_t + γλ·A_{t+1},  returns = A + V.
    The state after the final token is terminal (value 0); both outputs are 0 off the mask."""
    mask = mask.to(values.dtype)
    values, rewards = values * mask, rewards * mask
    n, t_max = rewards.shape
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)  # (N,) A_{t+1}
    for t in reversed(range(t_max)):
        next_value = values[:, t + 1] if t + 1 < t_max else torch.zeros_like(running)  # 0 past the end
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def policy_loss_clipped(
    logprobs: torch.Tensor,  # (N, T) under the policy being trained
    old_logprobs: torch.Tensor,  # (N, T) recorded at rollout
    advantages: torch.Tensor,  # (N, T)
    mask: torch.Tensor,  # (N, T)
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:  # loss (), clip fraction ()
    """PPO's clipped surrogate, as a loss: mean over tokens of max(-A·ρ, -A·clip(ρ, 1-ε, 1+ε)),
    ρ = π/π_old. The clip fraction is the share of tokens where the clipped term is the larger."""
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    fraction = masked_mean((clipped > unclipped).to(logprobs.dtype), mask)
    return loss, fraction.detach()


def value_loss_clipped(
    values: torch.Tensor,  # (N, T) under the critic being trained
    old_values: torch.Tensor,  # (N, T) recorded at rollout
    returns: torch.Tensor,  # (N, T)
    mask: torch.Tensor,  # (N, T)
    clip: float | None = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:  # loss (), clip fraction ()
    """½·mean over tokens of max((V - R)², (V_clip - R)²), V_clip = V_old + clip(V - V_old, -c, c)
    (the PPO2 value clipping); with clip None, ½·mean (V - R)²."""
    unclipped = (values - returns) ** 2
    if clip is None:
        return 0.5 * masked_mean(unclipped, mask), torch.zeros((), device=values.device)
    v_clipped = old_values + (values - old_values).clamp(-clip, clip)
    clipped = (v_clipped - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(unclipped, clipped), mask)
    fraction = masked_mean((clipped > unclipped).to(values.dtype), mask)
    return loss, fraction.detach()


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:  # (N, T, V) -> (N, T)
    """H = logsumexp(z) - Σ softmax(z)·z, per position."""
    logits = logits.float()
    return torch.logsumexp(logits, dim=-1) - (logits.softmax(dim=-1) * logits).sum(dim=-1)


def early_stop(history: list[float], patience: int) -> bool:
    """True when the best held-out reward is `patience` or more evaluations old."""
    if patience < 1 or not history:
        return False
    best = max(range(len(history)), key=lambda i: history[i])  # the first best on ties
    return len(history) - 1 - best >= patience
