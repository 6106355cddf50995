import pytest
import torch

from reward_training.data.pair_encoding import pairs_tokenize
from reward_training.data.preferences import PreferencePair
from reward_training.reward.batching import collate, step_micro_batches, steps_plan
from reward_training.reward.losses import ranking_loss
from reward_training.reward.model import reward_model_load


def _dialogues():
    pairs = []
    for i in range(6):
        history = [{"role": "user", "content": f"question {i} " + "about things " * i}]
        if i % 2:
            history += [
                {"role": "assistant", "content": "an earlier answer " * i},
                {"role": "user", "content": "and then?"},
            ]
        pairs.append(
            PreferencePair(prompt=tuple(history), chosen="a fine reply " * (i + 1), rejected="no" if i != 3 else "")
        )
    return pairs


@pytest.mark.parametrize("chat_format, attention", [("llama2", "sdpa"), ("hh", "eager")])
def test_prefix_shared_and_plain_paths_give_the_same_loss_and_gradients(tiny_llama_dir, chat_format, attention):
    model, tokenizer = reward_model_load(tiny_llama_dir, seed=0)
    model.hf.set_attn_implementation(attention)
    tokenized, dropped = pairs_tokenize(_dialogues(), tokenizer, max_length=48, encoder=False, chat_format=chat_format)
    assert (
        not dropped and len({p.packed_length for p in tokenized}) > 3
    )  # rows of different lengths: padding is exercised
    results = []
    for packed in (False, True):
        model.zero_grad()
        batch = collate(tokenized, tokenizer.pad_token_id, packed=packed)
        chosen, rejected = batch.split(model(**batch.model_inputs(torch.device("cpu"))))
        loss = ranking_loss(chosen, rejected, torch.full((len(tokenized),), 1 / 3)).mean()
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((chosen.detach(), rejected.detach(), loss.item(), grads))
    (c0, r0, l0, g0), (c1, r1, l1, g1) = results
    torch.testing.assert_close(c1, c0, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(r1, r0, atol=1e-5, rtol=1e-4)
    assert l1 == pytest.approx(l0, abs=1e-6)
    assert g0.keys() == g1.keys()
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], atol=1e-6, rtol=1e-4, msg=name)
    # And the shared path really reads fewer tokens.
    assert sum(p.packed_length for p in tokenized) < sum(len(p.chosen_ids) + len(p.rejected_ids) for p in tokenized)


def test_length_grouping_covers_every_pair_once_and_pads_less():
    lengths = [((i * 37) % 101) + 1 for i in range(400)]
    plain = steps_plan(lengths, batch_size=8, seed=3, length_grouping=False)
    grouped = steps_plan(lengths, batch_size=8, seed=3, length_grouping=True, group_pairs=128)
    for plan in (plain, grouped):
        assert sorted(i for step in plan for i in step) == list(range(400))

    def padding(plan):
        return sum(len(step) * max(lengths[i] for i in step) - sum(lengths[i] for i in step) for step in plan)

    assert padding(grouped) < padding(plain) / 5
    assert steps_plan(lengths, batch_size=8, seed=3) == steps_plan(lengths, batch_size=8, seed=3)


def test_processes_share_a_step_and_micro_batches_cover_it():
    lengths = list(range(50))
    step = list(range(0, 50, 2))
    shares = [step_micro_batches(step, lengths, micro_batch_size=4, rank=r, world=2) for r in (0, 1)]
    flat = sorted(i for share in shares for micro in share for i in micro)
    assert flat == sorted(step)
    assert all(len(micro) <= 4 for share in shares for micro in share)
