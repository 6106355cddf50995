"""Fixtures shared by every test folder, and the offline environment (HF_HUB_OFFLINE=1, OMP_NUM_THREADS=1).

Models, each built once a session: tiny_policy_dir and tiny_policy_dir_2 (tiny random Llama chat models),
tiny_reward_model_dir (a tiny reward model on tiny_policy_dir), smollm2_dir (the built-in chat model,
converted from its GGUF file); and served, a `transformers serve` of a tiny model for one test module.

Builders that are not fixtures live in modules: reward_training.testing (tiny chat and reward models,
accelerate launches), annotation.tests.factories (accounts, batches, turns, API clients),
annotation.tests.commands (running management commands), tests.serving and tests.e2e.stack (a live
stack). Fixtures of one folder are in its own conftest.py (such as annotation/tests: staff; reward_training/tests/
reward: tiny_llama_dir, tiny_bert_dir, synthetic; tests/e2e and tests/browser: stack).
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory):
    """A tiny random Llama chat model (with a chat template), saved as a Hugging Face directory."""
    from reward_training.testing import tiny_chat_model_save

    return tiny_chat_model_save(tmp_path_factory.mktemp("models") / "tiny-policy", seed=0)


@pytest.fixture(scope="session")
def tiny_policy_dir_2(tmp_path_factory):
    """A second tiny model (other weights, no chat template: the Llama 2 [INST] fallback)."""
    from reward_training.testing import tiny_chat_model_save

    return tiny_chat_model_save(tmp_path_factory.mktemp("models") / "tiny-policy-2", seed=1, with_chat_template=False)


@pytest.fixture(scope="session")
def tiny_reward_model_dir(tiny_policy_dir, tmp_path_factory):
    """A tiny decoder reward model on tiny_policy_dir with its score head saved, so every load scores alike."""
    from reward_training.reward.model import reward_model_load

    model, tokenizer = reward_model_load(tiny_policy_dir, seed=0)
    path = tmp_path_factory.mktemp("models") / "tiny-rm"
    model.save_pretrained(path, tokenizer)
    return path


@pytest.fixture(scope="session")
def smollm2_dir():
    """The built-in chat model, converted from its GGUF file once into var/models (where `make demo` puts it).

    The conversion is idempotent, so after `make demo` (or a first test run) this costs a stat().
    """
    from pathlib import Path

    from reward_training.generation.gguf import smollm2_converted

    return smollm2_converted(Path(__file__).resolve().parent / "var" / "models")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`transformers serve` on 127.0.0.1 with a tiny local model, for one test module."""
    from tests.serving import TransformersServe, served_model_save

    workdir = tmp_path_factory.mktemp("serve")
    server = TransformersServe(served_model_save(workdir / "chat"), log=workdir / "serve.log").start()
    try:
        yield server
    finally:
        server.stop()
