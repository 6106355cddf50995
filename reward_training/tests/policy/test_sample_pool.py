from reward_training.policy.sample_pool import pool_examples, pool_iterations, pool_read, pool_write


def test_pool_keeps_every_iteration(tmp_path):
    prompt = [{"role": "user", "content": "hi"}]
    pool_write(tmp_path, 1, [{"prompt": prompt, "response": "first", "reward": 0.4}])
    pool_write(tmp_path, 2, [{"prompt": prompt, "response": "second", "reward": 0.7},
                             {"prompt": prompt, "response": "third", "reward": 0.9}])
    assert pool_iterations(tmp_path) == [1, 2]
    rows = pool_read(tmp_path)
    assert [(r["iteration"], r["response"]) for r in rows] == [(1, "first"), (2, "second"), (2, "third")]
    assert [r["response"] for r in pool_read(tmp_path, up_to=1)] == ["first"]
    assert pool_examples(rows)[0] == [*prompt, {"role": "assistant", "content": "first"}]
    # rewriting an iteration replaces it rather than appending
    pool_write(tmp_path, 2, [{"prompt": prompt, "response": "redo", "reward": 0.1}])
    assert [r["response"] for r in pool_read(tmp_path)] == ["first", "redo"]


def test_a_truncated_reply_is_marked_so_sft_adds_no_end_of_turn(tmp_path):
    prompt = [{"role": "user", "content": "hi"}]
    pool_write(tmp_path, 1, [{"prompt": prompt, "response": "cut off mid", "reward": 0.4, "finished": False},
                             {"prompt": prompt, "response": "done.", "reward": 0.3, "finished": True},
                             {"prompt": prompt, "response": "older row", "reward": 0.2}])  # before "finished"
    rows = pool_read(tmp_path)
    assert [r["finished"] for r in rows[:2]] == [False, True]
    replies = [example[-1] for example in pool_examples(rows)]
    assert replies == [{"role": "assistant", "content": "cut off mid", "truncated": True},
                       {"role": "assistant", "content": "done."}, {"role": "assistant", "content": "older row"}]
