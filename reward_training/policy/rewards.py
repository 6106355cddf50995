"""The reward used to refresh the policy (Llama 2 paper, section 3.2.3): small pure functions, and
combined_scores, which applies them to the two reward models' scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from reward_training.data.prompts import PromptItem
    from reward_training.reward.scorer import RewardScorer

SAFETY_THRESHOLD = 0.15  # paper: precision 0.89, recall 0.55 for catching unsafe responses


def combined_reward(
    safety: torch.Tensor,  # (N,) Rs = sigmoid(safety RM score), in (0, 1)
    helpfulness: torch.Tensor,  # (N,) Rh = sigmoid(helpfulness RM score), in (0, 1)
    is_safety_prompt: torch.Tensor,  # (N,) bool
    threshold: float = SAFETY_THRESHOLD,
) -> torch.Tensor:  # (N,)
    """Rc = Rs if the prompt is a safety prompt or Rs < threshold, else Rh (paper eq. 3 context)."""
    return torch.where(is_safety_prompt | (safety < threshold), safety, helpfulness)


def _sigmoid_scores(
    scorer: RewardScorer, prompts: list[list[dict]], responses: list[str], finished: Sequence[bool] | None
) -> torch.Tensor:
    return torch.sigmoid(scorer.score(prompts, responses, finished=finished).float())


def combined_scores(
    helpfulness: RewardScorer,
    safety: RewardScorer,
    prompts: list[PromptItem],
    responses: list[str],
    threshold: float = SAFETY_THRESHOLD,
    *,
    finished: Sequence[bool] | None = None,
) -> dict[str, torch.Tensor]:
    """Rh, Rs and Rc for each (prompt, response), all (N,). `finished[i]` False scores response i as
    cut off at max_new_tokens, with no end-of-turn after it (None: all finished)."""
    messages = [p.messages for p in prompts]
    rh = _sigmoid_scores(helpfulness, messages, responses, finished)
    rs = _sigmoid_scores(safety, messages, responses, finished)
    is_safety = torch.tensor([p.safety for p in prompts], dtype=torch.bool)
    return {"helpfulness": rh, "safety": rs, "combined": combined_reward(rs, rh, is_safety, threshold)}


def logit(p: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """The inverse sigmoid, log(p / (1 - p)), with p clamped to [eps, 1 - eps]."""
    p = p.clamp(eps, 1 - eps)
    return torch.log(p) - torch.log1p(-p)


def whiten(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x - mean) / std over all elements (population std), as in WHITEN(LOGIT(Rc)) of the paper."""
    return (x - x.mean()) / torch.sqrt(x.var(unbiased=False) + eps)


def best_of_k_select(
    rewards: torch.Tensor,  # (N, K)
    finished: torch.Tensor | None = None,  # (N, K) bool: the sample ended with EOS; None: all did
) -> torch.Tensor:  # (N,)
    """The index of the highest-reward finished sample of each prompt (the first one on ties).

    A sample cut off at max_new_tokens competes only where none of its prompt's K samples finished:
    otherwise a reward model that likes long text would keep replies that stop mid-sentence.
    """
    if finished is None:
        return rewards.argmax(dim=1)
    eligible = finished | ~finished.any(dim=1, keepdim=True)  # (N, K)
    return rewards.masked_fill(~eligible, float("-inf")).argmax(dim=1)


def truncated_share(finished: torch.Tensor | Sequence[bool]) -> float:
    """The share of replies cut off at max_new_tokens, given whether each finished (any shape); 0 when none."""
    finished = torch.as_tensor(finished, dtype=torch.bool)
    return float((~finished).float().mean()) if finished.numel() else 0.0


def reward_vs_k(rewards: torch.Tensor) -> dict[str, list[float]]:  # rewards (N, K)
    """Paper Fig. 7: the mean over prompts of the max and the median reward among the first k samples.

    The gap between the two is what rejection sampling gains, and it widens with k.
    """
    n, k = rewards.shape
    ks = list(range(1, k + 1))
    best = [rewards[:, :j].max(dim=1).values.mean().item() for j in ks]
    median = [rewards[:, :j].median(dim=1).values.mean().item() for j in ks]
    return {"k": ks, "max": best, "median": median}
