"""Rollouts: sample one response per prompt from the current policy, then record, in one no-grad
fp32 forward pass (left-padded, as a generation engine lays sequences out), the log-probs of the
sampled tokens under π and π0 and the critic's values. The trainer later recomputes the log-probs
in its own layout and checks that they agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from reward_training.data.prompts import PromptItem
from reward_training.generation import best_of_k_generate, prompt_encode
from reward_training.generation.loading import LoadedModel
from reward_training.policy.ppo.models import critic_values, policy_evaluate, sequences_pack
from reward_training.policy.rewards import combined_scores
from reward_training.reward.model import RewardModel
from reward_training.reward.scorer import RewardScorer

# (prompt items, response texts, response token ids) -> (N,) Rc in (0, 1)
RewardFn = Callable[[Sequence[PromptItem], Sequence[str], Sequence[list[int]]], torch.Tensor]


@dataclass
class Rollout:
    """One iteration's rollouts on this process; token tensors are (N, T), responses right-padded."""

    prompts: list[PromptItem]
    texts: list[str]
    prompt_ids: list[list[int]]
    response_ids: list[list[int]]  # the sampled tokens, EOS included when the response ended with it
    finished: torch.Tensor  # (N,) bool: ended with EOS (else cut at max_new_tokens)
    rc: torch.Tensor  # (N,) the combined reward Rc (or reward_fn's value), in (0, 1)
    logprobs: torch.Tensor  # (N, T) log π of the sampled tokens, at rollout time
    ref_logprobs: torch.Tensor  # (N, T) log π0
    values: torch.Tensor  # (N, T) the critic's V(s_t) at rollout time
    entropy: torch.Tensor  # (N, T) of π at each response position
    mask: torch.Tensor  # (N, T) 1 on response tokens
    kl: torch.Tensor | None = None  # (N, T) per-token KL estimate
    rewards: torch.Tensor | None = None  # (N, T) -β·KL, plus the whitened score on the final token
    advantages: torch.Tensor | None = None  # (N, T)
    returns: torch.Tensor | None = None  # (N, T)

    def __len__(self) -> int:
        return len(self.prompts)


def rm_reward_fn(
    helpfulness: RewardScorer, safety: RewardScorer, threshold: float, eos_token_ids: Sequence[int]
) -> RewardFn:
    """The paper's Rc from the two reward models: sigmoid of their scores, the safety one for safety
    prompts or when Rs < threshold, else the helpfulness one. A response whose ids do not end with
    one of `eos_token_ids` was cut off at max_new_tokens and is scored as written (no end-of-turn)."""
    eos = set(eos_token_ids)

    def reward(prompts: Sequence[PromptItem], texts: Sequence[str], ids: Sequence[list[int]]) -> torch.Tensor:
        finished = [bool(r) and r[-1] in eos for r in ids]
        return combined_scores(helpfulness, safety, list(prompts), list(texts), threshold, finished=finished)[
            "combined"
        ]

    return reward


def responses_sample(
    loaded: LoadedModel,
    prompts: list[PromptItem],
    *,
    temperature: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
) -> tuple[list[list[int]], list[list[int]], list[str], torch.Tensor]:
    """(prompt ids, response ids, response texts, finished (N,)) with one sample per prompt; sample i uses seed + i."""
    messages = [p.messages for p in prompts]
    samples = best_of_k_generate(
        loaded, messages, k=1, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size
    )
    prompt_ids = [prompt_encode(loaded, m, max_new_tokens) for m in messages]  # what generation encoded
    rows = [row[0] for row in samples]
    finished = torch.tensor([s.finished_with_eos for s in rows], dtype=torch.bool)
    return prompt_ids, [list(s.token_ids) for s in rows], [s.text for s in rows], finished


def _pad_cat(chunks: list[torch.Tensor], width: int) -> torch.Tensor:  # [(b, t)] -> (N, width)
    return torch.cat([nn.functional.pad(c, (0, width - c.shape[1])) for c in chunks])


@torch.no_grad()
def rollout_evaluate(
    policy: nn.Module,
    reference: nn.Module,
    critic: RewardModel | None,
    prompt_ids: list[list[int]],
    response_ids: list[list[int]],
    *,
    pad_id: int,
    temperature: float,
    batch_size: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logprobs, ref_logprobs, values, entropy, mask), each (N, T) on the CPU, from left-padded batches.

    Values come from the policy's value head, or from `critic` when it is given.
    """
    t_max = max(len(r) for r in response_ids)
    out: dict[str, list[torch.Tensor]] = {"logprobs": [], "ref": [], "values": [], "entropy": [], "mask": []}
    for start in range(0, len(prompt_ids), batch_size):
        packed = sequences_pack(
            prompt_ids[start : start + batch_size], response_ids[start : start + batch_size], pad_id, left_pad=True
        ).to(device)
        current = policy_evaluate(policy, packed, temperature)
        ref = policy_evaluate(reference, packed, temperature)
        values = critic_values(critic, packed) if critic is not None else current.values
        out["logprobs"].append(current.logprobs.cpu())
        out["ref"].append(ref.logprobs.cpu())
        out["values"].append(values.float().cpu())
        out["entropy"].append(current.entropy.cpu())
        out["mask"].append(packed.mask.cpu())
    keys = ("logprobs", "ref", "values", "entropy", "mask")
    return tuple(_pad_cat(out[k], t_max) for k in keys)  # type: ignore[return-value]
