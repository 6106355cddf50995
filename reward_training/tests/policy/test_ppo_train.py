"""The PPO command line (what `accelerate launch -m reward_training.policy.ppo.train` runs)."""

import json

from reward_training.policy.ppo.train import main
from reward_training.testing import tiny_reward_model_save


def test_the_command_line_trains_from_prompt_files(tiny_policy_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "Tell me a story."}\n{"prompt": "How do I pick a lock?", "safety": true}\n')
    config = tmp_path / "ppo.json"
    config.write_text(json.dumps({"batch_size": 2, "minibatch_size": 2, "micro_batch_size": 2, "max_new_tokens": 4}))
    code = main(
        [
            "--policy",
            str(tiny_policy_dir),
            "--helpfulness-rm",
            str(tiny_reward_model_save(tmp_path / "h", seed=1)),
            "--safety-rm",
            str(tiny_reward_model_save(tmp_path / "s", seed=2)),
            "--prompts",
            str(prompts),
            "--output",
            str(tmp_path / "out"),
            "--config",
            str(config),
            "--iterations",
            "1",
            "--beta",
            "0.005",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["iterations_run"] == 1 and summary["config"]["beta"] == 0.005
    assert summary["config"]["batch_size"] == 2  # from the config file
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_bad_settings_exit_with_2(tmp_path, capsys):
    code = main(
        [
            "--policy",
            "p",
            "--helpfulness-rm",
            "h",
            "--safety-rm",
            "s",
            "--prompts",
            "x",
            "--output",
            str(tmp_path),
            "--batch-size",
            "100",
            "--minibatch-size",
            "64",
        ]
    )
    assert code == 2 and "multiple of minibatch_size" in capsys.readouterr().err
