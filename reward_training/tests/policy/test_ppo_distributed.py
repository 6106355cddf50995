"""PPO under `accelerate launch` with two CPU processes (gloo), under DDP and FSDP2: same code, rollouts split
between them; the trained policy is gathered and saved whole."""

import textwrap

import pytest
from transformers import AutoModelForCausalLM

from reward_training.testing import accelerate_launch_cpu

SCRIPT = textwrap.dedent("""
    import json, sys, torch
    from accelerate import PartialState
    from reward_training.data.prompts import PromptItem
    from reward_training.policy.ppo import PPOConfig, ppo_train

    def reward_fn(prompts, texts, ids):
        return torch.tensor([0.05 + 0.9 * sum(t % 4 == 0 for t in r) / max(1, len(r)) for r in ids])

    items = [PromptItem([{"role": "user", "content": w}]) for w in ["Hello", "Tell me a story", "What is the sea?"]]
    held = [PromptItem([{"role": "user", "content": w}]) for w in ["Good morning", "Name a colour", "Hi"]]
    config = PPOConfig(iterations=2, batch_size=8, minibatch_size=4, micro_batch_size=2, learning_rate=1.5e-3,
                       max_new_tokens=6, eval_every=1, early_stopping_patience=0, progress=False)
    out = ppo_train(config, policy_dir=sys.argv[1], prompts=items, heldout_prompts=held, output_dir=sys.argv[2],
                    reward_fn=reward_fn)
    if PartialState().is_main_process:
        print(json.dumps({"processes": out["processes"], "history": out["history"],
                          "heldout_rewards": out["heldout_rewards"]}))
""")


@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp2"])
def test_two_processes_under_accelerate_launch(tiny_policy_dir, tmp_path, fsdp):
    script = tmp_path / "ppo_ddp.py"
    script.write_text(SCRIPT)
    result = accelerate_launch_cpu(str(script), str(tiny_policy_dir), str(tmp_path / "out"), fsdp=fsdp)
    assert result["processes"] == 2 and len(result["history"]) == 2
    for record in result["history"]:
        assert record["gradient_steps"] == 2  # 8 prompts / minibatch 4, each process holding half of each
        assert record["logprob_max_diff"] <= 1e-4
    assert len(result["heldout_rewards"]) == 3  # before PPO and after each iteration, over all 3 prompts
    assert (tmp_path / "out" / "model.safetensors").is_file() and (tmp_path / "out" / "ppo_metrics.jsonl").is_file()
    start, trained = (AutoModelForCausalLM.from_pretrained(p) for p in (tiny_policy_dir, tmp_path / "out"))
    start_weights, trained_weights = start.state_dict(), trained.state_dict()
    assert trained_weights.keys() == start_weights.keys()
    assert all(trained_weights[k].shape == start_weights[k].shape for k in start_weights)
    assert any(not trained_weights[k].equal(start_weights[k]) for k in start_weights)  # PPO moved the weights
