"""The reward used to refresh the policy (Llama 2 paper, section 3.2.3), as small pure functions."""

from __future__ import annotations

import torch

SAFETY_THRESHOLD = 0.15  # paper: precision 0.89, recall 0.55 for catching unsafe responses


def combined_reward(
    safety: torch.Tensor,  # (N,) Rs = sigmoid(safety RM score), in (0, 1)
    helpfulness: torch.Tensor,  # (N,) Rh = sigmoid(helpfulness RM score), in (0, 1)
    is_safety_prompt: torch.Tensor,  # (N,) bool
    threshold: float = SAFETY_THRESHOLD,
) -> torch.Tensor:  # (N,)
    """Rc = Rs if the prompt is a safety prompt or Rs < threshold, else Rh (paper eq. 3 context)."""
    return torch.where(is_safety_prompt | (safety < threshold), safety, helpfulness)


def logit(p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The inverse sigmoid, log(p / (1 - p)), with p clamped to [eps, 1 - eps]."""
    p = p.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def whiten(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over all elements (population std), as in WHITEN(LOGIT(Rc)) of the paper."""
    return (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps)


def best_of_k_select(rewards: torch.Tensor) -> torch.Tensor:  # rewards (N, K) -> (N,)
    """The index of the highest-reward sample of each prompt (the first one on ties)."""
    return rewards.argmax(dim=1)


def reward_vs_k(rewards: torch.Tensor) -> dict[str, list[float]]:  # rewards (N, K)
    """Paper Fig. 7: the mean over prompts of the max and the median reward among the first k samples.

    The gap between the two is what rejection sampling gains, and it widens with k.
    """
    n, k = rewards.shape
    ks = list(range(1, k + 1))
    best = [rewards[:, :j].max(dim=1).values.mean().item() for j in ks]
    median = [rewards[:, :j].median(dim=1).values.mean().item() for j in ks]
    return {"k": ks, "max": best, "median": median}
