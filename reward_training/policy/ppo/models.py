"""The modules PPO trains and how sequences are laid out for them.

- PolicyModel: the causal LM, optionally with a scalar value head on its last hidden state
  (critic = "value_head"). It computes the LM head only at response positions.
- A separate critic (critic = "reward_model") is the helpfulness RewardModel itself, read at
  every response position instead of the last token only.
- sequences_pack lays (prompt, response) pairs out left- or right-padded; the rollout and the
  trainer use different layouts, so the log-prob check also catches padding and position bugs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from reward_training.policy.ppo.losses import entropy_from_logits
from reward_training.reward.model import RewardModel


def precision_autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast PPO runs every forward pass under, rollout and update alike: bf16 autocast for
    precision "bf16", none for "fp32". The same context on both sides is what lets the log-prob check
    and the KL against π0 compare like with like."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class PolicyModel(nn.Module):
    """forward(input_ids, attention_mask, position_ids, positions (N, T)) -> (logits (N, T, V), values (N, T) or None).

    `positions` are the sequence positions whose next-token logits are wanted (one per response token).
    """

    def __init__(self, lm: nn.Module, *, value_head: bool) -> None:
        super().__init__()
        self.lm = lm
        self.value_head = nn.Linear(lm.config.hidden_size, 1) if value_head else None
        if self.value_head is not None:  # V = 0 at the start: the first advantages are the rewards-to-go
            nn.init.zeros_(self.value_head.weight)
            nn.init.zeros_(self.value_head.bias)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, positions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        base = getattr(self.lm, self.lm.base_model_prefix)
        hidden = base(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
        ).last_hidden_state  # (N, L, H)
        picked = hidden.gather(1, positions[..., None].expand(-1, -1, hidden.shape[-1]))  # (N, T, H)
        logits = self.lm.get_output_embeddings()(picked)  # (N, T, V)
        values = None if self.value_head is None else self.value_head(picked).squeeze(-1).float()  # (N, T)
        return logits, values


def critic_values(critic: RewardModel, packed: "Packed") -> torch.Tensor:  # (N, T)
    """A reward model read as a critic: its score head at every response position."""
    return critic(
        input_ids=packed.input_ids,
        attention_mask=packed.attention_mask,
        position_ids=packed.position_ids,
        reward_index=packed.positions,
    )


@dataclass
class Packed:
    input_ids: torch.Tensor  # (N, L) prompt + response, padded
    attention_mask: torch.Tensor  # (N, L) 1 on real tokens
    position_ids: torch.Tensor  # (N, L) 0 at each row's first real token
    positions: torch.Tensor  # (N, T) the position whose logits predict response token t
    targets: torch.Tensor  # (N, T) response token t (pad off the mask)
    mask: torch.Tensor  # (N, T) 1 on response tokens

    def to(self, device: torch.device) -> "Packed":
        return Packed(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))


def sequences_pack(
    prompt_ids: list[list[int]], response_ids: list[list[int]], pad_id: int, *, left_pad: bool
) -> Packed:
    """Pack prompt + response rows; response tokens come out right-padded to T = the longest response."""
    lengths = [len(p) + len(r) for p, r in zip(prompt_ids, response_ids)]
    n, width, t_max = len(lengths), max(lengths), max(len(r) for r in response_ids)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)  # (N, L)
    attention_mask = torch.zeros((n, width), dtype=torch.long)  # (N, L)
    positions = torch.zeros((n, t_max), dtype=torch.long)  # (N, T)
    targets = torch.full((n, t_max), pad_id, dtype=torch.long)  # (N, T)
    mask = torch.zeros((n, t_max), dtype=torch.long)  # (N, T)
    for i, (prompt, response) in enumerate(zip(prompt_ids, response_ids)):
        start = width - lengths[i] if left_pad else 0
        input_ids[i, start : start + lengths[i]] = torch.tensor(prompt + response, dtype=torch.long)
        attention_mask[i, start : start + lengths[i]] = 1
        r = len(response)
        positions[i, :r] = start + len(prompt) - 1 + torch.arange(r)
        targets[i, :r] = torch.tensor(response, dtype=torch.long)
        mask[i, :r] = 1
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # (N, L)
    return Packed(input_ids, attention_mask, position_ids, positions, targets, mask)


@dataclass
class Evaluated:
    logprobs: torch.Tensor  # (N, T) of the target tokens
    values: torch.Tensor | None  # (N, T) from the value head, when there is one
    entropy: torch.Tensor  # (N, T) of the policy at each position (no gradient)


def policy_evaluate(policy: nn.Module, packed: Packed, temperature: float) -> Evaluated:
    """Log-probs of the response tokens at `temperature` (fp32 softmax), values and entropy."""
    logits, values = policy(packed.input_ids, packed.attention_mask, packed.position_ids, packed.positions)
    logits = logits.float() / temperature  # (N, T, V)
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, packed.targets[..., None]).squeeze(-1)  # (N, T)
    with torch.no_grad():
        entropy = entropy_from_logits(logits)  # (N, T)
    return Evaluated(logprobs=logprobs, values=values, entropy=entropy)
