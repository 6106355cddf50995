"""Build the built-in demo chat model (assets/demo-chat/) from the shipped HH dialogues.

    HF_HUB_OFFLINE=1 python -m reward_training.demo.build --output assets/demo-chat

1. Train a byte-level BPE tokenizer with a chat template on the training dialogues.
2. Initialise a small random Llama model.
3. Pre-train it on the whole text of the training dialogues (loss on every token).
4. Fine-tune it with the SFT core on the same dialogues, loss on the assistant turns only.
5. Save the weights in bf16 (a few MB) with build.json: the settings and both phases' metrics.

The dialogues are the chosen sides of the first `--train-rows` rows of the HH harmless file; the
other rows are left unseen. Everything is seeded; the run takes about 20 minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

from reward_training.config import config_build, config_dict
from reward_training.data.chat import Message
from reward_training.data.hh import hh_read, hh_render
from reward_training.demo.tokenizer import chat_tokenizer_train
from reward_training.policy.sft import sft_train
from reward_training.policy.sft_config import SFTConfig

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO / "assets" / "data" / "hh-harmless" / "harmless_dev.jsonl.gz"


@dataclass
class DemoBuildConfig:
    data: str = str(DEFAULT_DATA)  # HH file (gzipped JSONL)
    train_rows: int = 1400  # the first rows train; the rest stay unseen
    vocab_size: int = 4096
    hidden_size: int = 192
    num_layers: int = 4
    intermediate_size: int = 512
    num_heads: int = 6
    num_kv_heads: int = 3
    context_length: int = 512  # max_position_embeddings
    max_length: int = 256  # training tokens per dialogue (longer ones are cut at the end)
    pretrain_epochs: float = 1.0
    pretrain_lr: float = 2e-3
    sft_epochs: float = 1.0
    sft_lr: float = 5e-4
    batch_size: int = 16
    micro_batch_size: int = 8
    warmup_steps: int = 20
    seed: int = 0


def demo_dialogues(path: str | Path, rows: int) -> list[list[Message]]:
    """The chosen dialogues (history + chosen reply) of the first `rows` rows; empty replies skipped."""
    dialogues = []
    for number, pair in hh_read(path):
        if number > rows:
            break
        if pair.chosen.strip():
            dialogues.append([*pair.prompt, {"role": "assistant", "content": pair.chosen}])
    return dialogues


def demo_base_save(config: DemoBuildConfig, dialogues: list[list[Message]], path: Path) -> None:
    """Train the tokenizer and save it with a randomly initialised Llama model into `path`."""
    tokenizer = chat_tokenizer_train((hh_render(d) for d in dialogues), vocab_size=config.vocab_size)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=config.context_length,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    tokenizer.model_max_length = config.context_length
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def demo_build(config: DemoBuildConfig, output: str | Path) -> dict:
    started = time.perf_counter()
    dialogues = demo_dialogues(config.data, config.train_rows)
    phase = dict(
        batch_size=config.batch_size,
        micro_batch_size=config.micro_batch_size,
        max_length=config.max_length,
        warmup_steps=config.warmup_steps,
        seed=config.seed,
        device="cpu",
    )
    pretrain = SFTConfig(epochs=config.pretrain_epochs, learning_rate=config.pretrain_lr, loss_on="all", **phase)
    sft = SFTConfig(epochs=config.sft_epochs, learning_rate=config.sft_lr, loss_on="assistant", **phase)
    with tempfile.TemporaryDirectory(prefix="demo-chat-") as tmp:
        base, pretrained = Path(tmp) / "base", Path(tmp) / "pretrained"
        demo_base_save(config, dialogues, base)
        print(f"pre-training on {len(dialogues)} dialogues", file=sys.stderr)
        pretrain_metrics = sft_train(pretrain, dialogues, base, pretrained)
        print("fine-tuning on the assistant turns", file=sys.stderr)
        sft_metrics = sft_train(sft, dialogues, pretrained, output, save_dtype=torch.bfloat16)
    output = Path(output)
    (output / "sft_config.json").unlink(missing_ok=True)  # build.json holds both phases
    (output / "sft_metrics.json").unlink(missing_ok=True)
    summary = {
        "build": asdict(config),
        "dialogues": len(dialogues),
        "parameters": sum(p.numel() for p in LlamaForCausalLM.from_pretrained(output).parameters()),
        "pretrain": {"config": config_dict(pretrain), **_brief(pretrain_metrics)},
        "sft": {"config": config_dict(sft), **_brief(sft_metrics)},
        "seconds": time.perf_counter() - started,
        "torch": torch.__version__,
    }
    summary["build"]["data"] = (
        str(Path(config.data).resolve().relative_to(REPO))
        if Path(config.data).resolve().is_relative_to(REPO)
        else config.data
    )
    (output / "build.json").write_text(json.dumps(summary, indent=1))
    return summary


def _brief(metrics: dict) -> dict:
    """Metrics without the per-step loss list, plus its every-tenth-step trace."""
    return {**{k: v for k, v in metrics.items() if k != "loss"}, "loss_trace": metrics["loss"][::10]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--config", help="JSON file of DemoBuildConfig fields")
    for name, default in asdict(DemoBuildConfig()).items():
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=type(default), default=None)
    args = vars(parser.parse_args(argv))
    output, file = args.pop("output"), args.pop("config")
    config = config_build(DemoBuildConfig, file=file, **args)
    summary = demo_build(config, output)
    print(json.dumps({k: summary[k] for k in ("dialogues", "parameters", "seconds")}))


if __name__ == "__main__":
    main()
