import pytest

from reward_training.generation import model_load
from reward_training.testing import tiny_chat_model_save


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return tiny_chat_model_save(tmp_path_factory.mktemp("tiny") / "chat")


@pytest.fixture(scope="session")
def tiny_loaded(tiny_model_dir):
    return model_load(tiny_model_dir, device="cpu")
