import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from tests.e2e.stack import stack_running

CORPUS = [
    "Hello! How can I help you today? I can answer questions about many things.",
    "The sea is wide and deep. Ships sail on it, and fish swim in it.",
    "I am sorry, but I cannot help with that. Is there anything else you need?",
] * 20


def foreign_model_dir(
    path, *, seed: int, hidden: int = 64, layers: int = 2, positions: int = 512, endless: bool = False
):
    """A Hugging Face chat model made here with transformers and tokenizers alone, not by project code.

    Its tokenizer has no chat template, so the platform must fall back to the Llama 2 [INST] format.
    An `endless` model never samples EOS: its output logits are spread wide and EOS's is zero, so
    EOS stays outside any top-p nucleus and every sample runs to its token budget.
    """
    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<s>", "</s>", "<pad>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=positions,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    if endless:
        with torch.no_grad():
            model.lm_head.weight.mul_(30.0)
            model.lm_head.weight[fast.eos_token_id].zero_()
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A running stack (web + one real Celery worker) on a fresh database, for one test module."""
    with stack_running(tmp_path_factory.mktemp("stack")) as running:
        yield running
