"""Reward-model losses as small pure functions (Llama 2, Touvron et al. 2023, section 3.2.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from reward_training.reward.margins import MARGIN_TABLES, margin_of  # noqa: F401 - Table 27, re-exported


def ranking_loss(
    reward_chosen: torch.Tensor, reward_rejected: torch.Tensor, margin: torch.Tensor | float = 0.0
) -> torch.Tensor:
    """Binary ranking loss with a margin, per pair (paper eq. 2):

        L = -log(sigmoid(r(x, y_c) - r(x, y_r) - m(r)))

    reward_chosen, reward_rejected, margin: (B,)  ->  (B,)
    """
    return -F.logsigmoid(reward_chosen - reward_rejected - margin)


def safety_auxiliary_loss(rewards: torch.Tensor, safe: torch.Tensor) -> torch.Tensor:
    """Safety auxiliary loss, per response (paper Table 29; the paper gives no formula):
    binary cross-entropy on sigmoid(r) against the response's safe (1) / unsafe (0) label,

        L_aux = -[safe * log sigmoid(r) + (1 - safe) * log(1 - sigmoid(r))]

    which pushes sigmoid(r) above 0.5 for safe responses and below it for unsafe ones.
    rewards, safe: (N,)  ->  (N,)
    """
    return F.binary_cross_entropy_with_logits(rewards, safe.to(rewards.dtype), reduction="none")
