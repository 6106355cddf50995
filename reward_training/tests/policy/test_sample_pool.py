import torch

from reward_training.policy.rejection_sampling import pool_rescore
from reward_training.policy.sample_pool import (
    STAGED,
    pool_best,
    pool_dir,
    pool_examples,
    pool_iterations,
    pool_merge,
    pool_read,
    pool_write,
    staged_write,
)

PROMPT = [{"role": "user", "content": "hi"}]


def test_pool_keeps_every_iteration(tmp_path):
    pool_write(tmp_path, 1, [{"prompt": PROMPT, "response": "first", "reward": 0.4}])
    pool_write(
        tmp_path,
        2,
        [
            {"prompt": PROMPT, "response": "second", "reward": 0.7},
            {"prompt": PROMPT, "response": "third", "reward": 0.9},
        ],
    )
    assert pool_iterations(tmp_path) == [1, 2]
    rows = pool_read(tmp_path)
    assert [(r["iteration"], r["response"]) for r in rows] == [(1, "first"), (2, "second"), (2, "third")]
    assert [r["response"] for r in pool_read(tmp_path, up_to=1)] == ["first"]
    assert pool_examples(rows)[0] == [*PROMPT, {"role": "assistant", "content": "first"}]
    # rewriting an iteration replaces it rather than appending
    pool_write(tmp_path, 2, [{"prompt": PROMPT, "response": "redo", "reward": 0.1}])
    assert [r["response"] for r in pool_read(tmp_path)] == ["first", "redo"]


def test_a_truncated_reply_is_marked_so_sft_adds_no_end_of_turn(tmp_path):
    pool_write(
        tmp_path,
        1,
        [
            {"prompt": PROMPT, "response": "cut off mid", "reward": 0.4, "finished": False},
            {"prompt": PROMPT, "response": "done.", "reward": 0.3, "finished": True},
            {"prompt": PROMPT, "response": "older row", "reward": 0.2},
        ],
    )  # before "finished"
    rows = pool_read(tmp_path)
    assert [r["finished"] for r in rows[:2]] == [False, True]
    replies = [example[-1] for example in pool_examples(rows)]
    assert replies == [
        {"role": "assistant", "content": "cut off mid", "truncated": True},
        {"role": "assistant", "content": "done."},
        {"role": "assistant", "content": "older row"},
    ]


def test_staged_samples_enter_the_pool_only_when_merged_and_only_once(tmp_path):
    pool = pool_dir(tmp_path / "pools", "demo-chat-v0")
    promoted, rejected = tmp_path / "policy-iter1", tmp_path / "policy-iter2"
    staged_write(promoted, [{"prompt": PROMPT, "response": "kept by iter1", "reward": 0.6}])
    staged_write(rejected, [{"prompt": PROMPT, "response": "kept by iter2", "reward": 0.8}])
    # given two staged candidates, nothing is in the pool until one is promoted
    assert (promoted / STAGED).is_file() and pool_read(pool) == []
    assert pool_merge(pool, promoted) == 1
    assert pool_merge(pool, promoted) == 1  # a rerun of the promotion adds nothing
    # then the pool holds the promoted candidate's samples alone: iter2 was never merged
    assert [(r["iteration"], r["response"]) for r in pool_read(pool)] == [(1, "kept by iter1")]
    assert pool_merge(pool, tmp_path / "a-ppo-policy") is None  # nothing staged: nothing to add


def test_two_lineages_keep_separate_pools(tmp_path):
    demo, smol = pool_dir(tmp_path, "demo-chat-v0"), pool_dir(tmp_path, "smollm2-135m")
    staged_write(tmp_path / "demo-iter1", [{"prompt": PROMPT, "response": "demo's", "reward": 0.5}])
    staged_write(tmp_path / "smol-iter1", [{"prompt": PROMPT, "response": "smol's", "reward": 0.5}])
    assert pool_merge(demo, tmp_path / "demo-iter1") == 1 and pool_merge(smol, tmp_path / "smol-iter1") == 1
    assert [r["response"] for r in pool_read(demo)] == ["demo's"]
    assert [r["response"] for r in pool_read(smol)] == ["smol's"]
    assert demo != smol and pool_dir(tmp_path, "odd/name") == tmp_path / "odd_name"


def test_the_best_per_prompt_prefers_a_finished_reply_then_the_higher_reward():
    other = [{"role": "user", "content": "bye"}]
    rows = [
        {"prompt": PROMPT, "response": "cut off", "reward": 0.99, "finished": False},
        {"prompt": other, "response": "only one", "reward": 0.1},
        {"prompt": PROMPT, "response": "fine", "reward": 0.5},
        {"prompt": PROMPT, "response": "better", "reward": 0.7, "finished": True},
    ]
    assert [r["response"] for r in pool_best(rows)] == ["better", "only one"]


class WordScorer:
    """A reward model that likes one word (enough for the combined reward's two calls)."""

    def __init__(self, word: str):
        self.word = word

    def score(self, prompts, responses, finished=None):
        return torch.tensor([4.0 if self.word in text else -4.0 for text in responses])


def test_rescoring_with_a_new_reward_model_changes_which_sample_is_kept(tmp_path):
    # given a pool where the old reward model preferred "alpha" (its stored reward) over "beta"
    pool_write(tmp_path, 1, [{"prompt": PROMPT, "response": "alpha", "reward": 0.9}])
    pool_write(tmp_path, 2, [{"prompt": PROMPT, "response": "beta", "reward": 0.2}])
    rows = pool_read(tmp_path)
    assert [r["response"] for r in pool_best(rows)] == ["alpha"]
    # when the pool is re-scored with a reward model that prefers "beta", "beta" is kept
    likes_beta = WordScorer("beta")
    rescored = pool_rescore(rows, likes_beta, likes_beta)
    assert [r["response"] for r in pool_best(rescored)] == ["beta"]
    assert [r["sampled_reward"] for r in rescored] == [0.9, 0.2]
    # and with one that prefers "alpha", "alpha" again
    likes_alpha = WordScorer("alpha")
    assert [r["response"] for r in pool_best(pool_rescore(rows, likes_alpha, likes_alpha))] == ["alpha"]
