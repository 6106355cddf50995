"""Sequence layout and the policy module: any padding gives the log-probs of an unpadded forward pass."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from reward_training.policy.ppo.models import PolicyModel, policy_evaluate, sequences_pack

PROMPTS = [[5, 6, 7], [8, 9]]
RESPONSES = [[10, 11], [12, 13, 14, 2]]


def test_sequences_pack_layouts():
    right = sequences_pack(PROMPTS, RESPONSES, pad_id=0, left_pad=False)
    assert right.input_ids.tolist() == [[5, 6, 7, 10, 11, 0], [8, 9, 12, 13, 14, 2]]
    assert right.positions.tolist() == [[2, 3, 0, 0], [1, 2, 3, 4]]  # logits at p predict token p + 1
    assert right.targets.tolist() == [[10, 11, 0, 0], [12, 13, 14, 2]]
    assert right.mask.tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
    left = sequences_pack(PROMPTS, RESPONSES, pad_id=0, left_pad=True)
    assert left.input_ids.tolist() == [[0, 5, 6, 7, 10, 11], [8, 9, 12, 13, 14, 2]]
    assert left.position_ids[0].tolist() == [0, 0, 1, 2, 3, 4]  # real tokens start at 0
    assert left.positions[0].tolist()[:2] == [3, 4]


@pytest.mark.parametrize("left_pad", [False, True])
def test_policy_evaluate_matches_an_unpadded_forward(tiny_policy_dir, left_pad):
    lm = AutoModelForCausalLM.from_pretrained(tiny_policy_dir, dtype=torch.float32)
    policy = PolicyModel(lm, value_head=True).eval()
    with torch.no_grad():
        got = policy_evaluate(policy, sequences_pack(PROMPTS, RESPONSES, pad_id=0, left_pad=left_pad), temperature=0.7)
        for row, (prompt, response) in enumerate(zip(PROMPTS, RESPONSES)):
            logits = lm(input_ids=torch.tensor([prompt + response])).logits[0] / 0.7  # (L, V)
            expected = torch.log_softmax(logits, -1)[len(prompt) - 1 : -1].gather(-1, torch.tensor(response)[:, None])
            assert got.logprobs[row, : len(response)].tolist() == pytest.approx(expected.squeeze(-1).tolist(), abs=1e-5)
    assert got.values.shape == (2, 4) and got.values.abs().max().item() == 0.0  # the value head starts at zero
    assert got.entropy.shape == (2, 4)
