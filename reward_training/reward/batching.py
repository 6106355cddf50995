"""Batches of preference pairs: the order of training, and the tensors of one forward pass.

Two layouts, the same rewards:
- plain: 2B rows, the B chosen sequences then the B rejected ones, right-padded (what TRL does);
- prefix-shared (decoders): B rows of history + chosen + rejected, with a block mask so that each
  reply sees the history and itself but not the other reply, and position ids that restart the
  rejected reply right after the history. The history is encoded once instead of twice.

Length grouping sorts pairs by length inside chunks of the shuffled order, so a batch's rows pad
to similar lengths; every pair is still seen exactly once per epoch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from reward_training.data.truncation import TokenizedPair


@dataclass
class RewardBatch:
    input_ids: torch.Tensor  # (2B, T) plain, (B, T) packed
    attention_mask: torch.Tensor  # (2B, T) plain, (B, 1, T, T) bool packed
    position_ids: torch.Tensor | None  # (B, T) packed
    reward_index: torch.Tensor | None  # (B, 2) packed: last token of the chosen and of the rejected reply
    packed: bool

    @property
    def n_pairs(self) -> int:
        return self.input_ids.shape[0] if self.packed else self.input_ids.shape[0] // 2

    def model_inputs(self, device: torch.device) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask}
        if self.packed:
            inputs.update(position_ids=self.position_ids, reward_index=self.reward_index)
        return {key: value.to(device) for key, value in inputs.items()}

    def split(self, rewards: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model output -> (chosen rewards (B,), rejected rewards (B,))."""
        if self.packed:
            return rewards[:, 0], rewards[:, 1]  # rewards: (B, 2)
        flat = rewards[:, 0]  # (2B,)
        return flat[: self.n_pairs], flat[self.n_pairs :]


def collate_plain(pairs: list[TokenizedPair], pad_id: int) -> RewardBatch:
    rows = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # (2B, T)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)  # (2B, T)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention_mask[i, : len(row)] = 1
    return RewardBatch(input_ids, attention_mask, None, None, packed=False)


HISTORY, CHOSEN, REJECTED, PAD = 0, 1, 2, 3


def collate_packed(pairs: list[TokenizedPair], pad_id: int) -> RewardBatch:
    """One row per pair: history + chosen + rejected. Decoders only (no lead/trail special tokens)."""
    if any(p.lead or p.trail for p in pairs):
        raise ValueError("prefix sharing is for decoders; these pairs carry encoder special tokens")
    width = max(p.packed_length for p in pairs)
    n = len(pairs)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)  # (B, T)
    segment = torch.full((n, width), PAD, dtype=torch.long)  # (B, T)
    position_ids = torch.zeros((n, width), dtype=torch.long)  # (B, T)
    reward_index = torch.zeros((n, 2), dtype=torch.long)  # (B, 2)
    for i, p in enumerate(pairs):
        h, c, r = len(p.history), len(p.chosen), len(p.rejected)
        input_ids[i, : h + c + r] = torch.tensor([*p.history, *p.chosen, *p.rejected], dtype=torch.long)
        segment[i, :h], segment[i, h : h + c], segment[i, h + c : h + c + r] = HISTORY, CHOSEN, REJECTED
        position_ids[i, : h + c] = torch.arange(h + c)
        position_ids[i, h + c : h + c + r] = torch.arange(h, h + r)
        # The reward sits on a side's last token; an empty reply ends on the history's last token.
        reward_index[i, 0] = h + c - 1
        reward_index[i, 1] = h + c + r - 1 if r else h - 1
    if (reward_index < 0).any():
        raise ValueError("a pair with no history and an empty reply has no token to read a reward from")
    causal = torch.ones((width, width), dtype=torch.bool).tril()  # (T, T)
    seg_q, seg_k = segment[:, :, None], segment[:, None, :]  # (B, T, 1), (B, 1, T)
    allowed = causal & ((seg_k == HISTORY) | (seg_k == seg_q))  # (B, T, T); pad queries see pads + history
    return RewardBatch(input_ids, allowed[:, None], position_ids, reward_index, packed=True)


def collate(pairs: list[TokenizedPair], pad_id: int, *, packed: bool) -> RewardBatch:
    return collate_packed(pairs, pad_id) if packed else collate_plain(pairs, pad_id)


def steps_plan(
    lengths: list[int],
    *,
    batch_size: int,
    seed: int,
    epoch: int = 0,
    length_grouping: bool = True,
    group_pairs: int = 512,
) -> list[list[int]]:
    """Pair indices of each optimizer step for one epoch, from a seeded shuffle.

    With length grouping, and batches smaller than `group_pairs`, each chunk of `group_pairs`
    (rounded to whole batches) is sorted by length, cut into batches, and the batches shuffled.
    """
    rng = random.Random(f"{seed}/{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = max(batch_size, (group_pairs // batch_size) * batch_size)
    if not length_grouping or chunk == batch_size:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    steps: list[list[int]] = []
    for start in range(0, len(order), chunk):
        block = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        block_steps = [block[i : i + batch_size] for i in range(0, len(block), batch_size)]
        rng.shuffle(block_steps)
        steps.extend(block_steps)
    return steps


def step_micro_batches(
    step: list[int],
    lengths: list[int],
    *,
    micro_batch_size: int,
    rank: int = 0,
    world: int = 1,
    length_grouping: bool = True,
) -> list[list[int]]:
    """This process's micro-batches of one optimizer step: its round-robin share, cut in micro-batches
    (sorted by length first when grouping, so each micro-batch pads little)."""
    ids = sorted(step, key=lambda i: lengths[i]) if length_grouping else list(step)
    local = ids[rank::world]
    return [local[i : i + micro_batch_size] for i in range(0, len(local), micro_batch_size)]
