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
