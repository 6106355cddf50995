"""Issue 16, end to end in one process: one file of each open-source format imported with --format auto,
the lot exported as JSONL and Parquet, and TRL's RewardTrainer training two steps on the Parquet export,
its margin column included."""

import json
from pathlib import Path

import datasets
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from trl import RewardConfig, RewardTrainer

from annotation.models import ImportedPair
from annotation.tests.commands import run as manage
from reward_training.reward.margins import margin_of

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "reward_training" / "tests" / "data" / "fixtures"
ONE_OF_EACH = {  # fixture: the format auto must pick
    "trl_standard.jsonl": "trl",
    "ultrafeedback_binarized.jsonl": "binarized",
    "shp.jsonl": "shp",
    "oasst1_messages.jsonl": "oasst",
    "helpsteer2.jsonl": "helpsteer",
    "rewardbench.jsonl": "rewardbench",
}


@pytest.fixture
def hh_file(tmp_path):
    path = tmp_path / "hh.jsonl"
    history = "\n\nHuman: Is it safe to eat raw chicken?\n\nAssistant:"
    path.write_text(
        json.dumps({"chosen": f"{history} No, cook it through first.", "rejected": f"{history} Sure, go ahead."}) + "\n"
    )
    return path


def test_every_format_imports_exports_as_parquet_and_trains_trl_reward_trainer_with_margins(
    tmp_path, hh_file, tiny_policy_dir
):
    files = {**{FIXTURES / name: format for name, format in ONE_OF_EACH.items()}, hh_file: "hh-rlhf"}
    for path, format in files.items():
        result = manage(
            "import_preferences", str(path), "--format", "auto", "--source", path.stem, "--track", "helpfulness"
        )
        assert result["format"] == format and result["imported"] > 0, result
    total = ImportedPair.objects.count()
    assert manage("export_preferences", "--format", "trl", "--output", str(tmp_path / "all.jsonl"))["pairs"] == total
    assert (
        manage("export_preferences", "--format", "parquet", "--output", str(tmp_path / "all.parquet"))["pairs"] == total
    )
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    dataset = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "all.parquet"), split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert len(dataset) == len(lines) == total and dataset["margin"] == [line["margin"] for line in lines]
    assert dataset["margin"] == [margin_of(strength) for strength in dataset["strength"]]
    assert len(set(dataset["margin"])) >= 3  # rated and unrated pairs: the margins differ

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_policy_dir))
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(str(tiny_policy_dir), num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    before = [p.detach().clone() for p in model.parameters()]
    config = RewardConfig(
        output_dir=str(tmp_path / "trl"),
        max_steps=2,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        max_length=256,
        dataset_num_proc=None,
    )
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    assert "margin" in batch and batch["margin"].shape == (4,)  # TRL reads our margin column into the loss
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 2 and len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
