"""The two trainers' runs that bench/reward_training.py times, each in a subprocess of its own: ours
(reward_train) and TRL's RewardTrainer, with the settings held equal (its docstring lists them)."""

from __future__ import annotations

import time

MAX_LENGTH = 256
BATCH = 8
LR = 1e-5
SEED = 0
CHAT_FORMAT = "hh"


def our_config(base: str, output_dir: str):
    from reward_training.config import config_build
    from reward_training.reward.reward_config import RewardConfig

    return config_build(
        RewardConfig,
        base_model=base,
        output_dir=output_dir,
        batch_size=BATCH,
        micro_batch_size=BATCH,
        max_length=MAX_LENGTH,
        learning_rate=LR,
        chat_format=CHAT_FORMAT,
        epochs=1,  # TRL's num_train_epochs below (ours would derive 3 from the data size)
        save_every_steps=0,
        seed=SEED,
    )


def worker_ours(base: str, train, evaluate, output_dir: str, **switches) -> dict:
    import dataclasses

    from reward_training.config import config_dict
    from reward_training.reward.reward_trainer import reward_train

    config = dataclasses.replace(our_config(base, output_dir), **switches)
    result = reward_train(config, train, eval_pairs=evaluate or None, progress=False)
    return {
        "trainer": "ours" + "".join(f" {k}={v}" for k, v in switches.items() if k != "seed"),
        "pairs": result["n_train_pairs"],
        "seconds": result["train_seconds"],
        "cpu_seconds": result["train_cpu_seconds"],
        "pairs_per_second": result["pairs_per_second"],
        "accuracy": result["accuracy"],
        "accuracy_ci95": result.get("accuracy_ci95"),
        "n_eval": result.get("n_eval"),
        "warmup_steps": result["warmup_steps"],
        "config": config_dict(config),
    }


def worker_trl(base: str, train, evaluate, output_dir: str, seed: int = SEED) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, TrainerCallback
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    from reward_training.data.pair_encoding import pairs_tokenize
    from reward_training.evaluation.reward_accuracy import accuracy_report
    from reward_training.reward.model import RewardModel, is_encoder, tokenizer_load
    from reward_training.reward.schedule import warmup_steps
    from reward_training.reward.scorer import pairs_score

    tokenizer = tokenizer_load(base)
    torch.manual_seed(seed)  # the same head initialisation as ours
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    encoder = is_encoder(model.config)
    tokenized, dropped = pairs_tokenize(
        train, tokenizer, max_length=MAX_LENGTH, encoder=encoder, chat_format=CHAT_FORMAT
    )
    dataset = Dataset.from_dict(
        {"chosen_ids": [p.chosen_ids for p in tokenized], "rejected_ids": [p.rejected_ids for p in tokenized]}
    )
    steps = -(-len(tokenized) // BATCH)
    args = TRLRewardConfig(
        output_dir=output_dir,
        per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=1,
        num_train_epochs=1,
        learning_rate=LR,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=warmup_steps(steps),
        optim="adamw_torch_fused",  # TRL's default here (torch >= 2.8); ours uses the same fused AdamW
        adam_beta1=0.9,
        adam_beta2=0.95,
        adam_epsilon=1e-5,
        weight_decay=0.1,
        max_grad_norm=1.0,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        max_length=MAX_LENGTH,
        disable_dropout=True,
        seed=seed,
        data_seed=seed,
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        logging_steps=10,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    times = {}

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            times["begin"], times["begin_cpu"] = time.perf_counter(), time.process_time()

        def on_train_end(self, *a, **k):
            times["end"], times["end_cpu"] = time.perf_counter(), time.process_time()

    trainer = RewardTrainer(
        model=model, args=args, train_dataset=dataset, processing_class=tokenizer, callbacks=[Clock()]
    )
    if len(trainer.train_dataset) != len(tokenized):
        raise RuntimeError("TRL dropped pairs")
    trainer.train()
    seconds = times["end"] - times["begin"]
    out = {
        "trainer": "trl",
        "pairs": len(tokenized),
        "seconds": seconds,
        "cpu_seconds": times["end_cpu"] - times["begin_cpu"],
        "pairs_per_second": len(tokenized) / seconds,
        "accuracy": None,
        "config": {k: v for k, v in args.to_dict().items() if k in TRL_SHOWN},
    }
    if evaluate:
        scored, dropped_eval = pairs_tokenize(
            evaluate, tokenizer, max_length=MAX_LENGTH, encoder=encoder, chat_format=CHAT_FORMAT
        )
        wrapped = RewardModel(trainer.model, encoder=encoder)
        chosen, rejected = pairs_score(
            wrapped, scored, tokenizer.pad_token_id, batch_size=16, device=trainer.model.device
        )
        report = accuracy_report(
            chosen, rejected, [evaluate[p.index] for p in scored], dropped_identical=len(dropped_eval)
        )
        out.update(accuracy=report["accuracy"], accuracy_ci95=report["ci95"], n_eval=report["n"])
    return out


TRL_SHOWN = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "num_train_epochs",
    "learning_rate",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "warmup_steps",
    "optim",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "weight_decay",
    "max_grad_norm",
    "bf16",
    "fp16",
    "gradient_checkpointing",
    "max_length",
    "disable_dropout",
    "center_rewards_coefficient",
    "seed",
    "use_cpu",
    "group_by_length",
    "dataloader_num_workers",
)
