"""SFTConfig: the settings of supervised fine-tuning (policy/sft.py), with the Llama 2 paper's values (3.1)."""

from __future__ import annotations

from dataclasses import dataclass

from reward_training.config import config_field
from reward_training.reward.schedule import SCHEDULES
from reward_training.tracking import TRACKERS


@dataclass
class SFTConfig:
    """SFT settings; the defaults are the paper's (Llama 2, 3.1)."""

    epochs: float = config_field(2.0, "passes over the examples (paper: 2); a fraction stops part-way")
    learning_rate: float = config_field(2e-5, "peak learning rate (paper: 2e-5, cosine schedule)")
    weight_decay: float = config_field(0.1, "AdamW weight decay (paper: 0.1)")
    batch_size: int = config_field(64, "examples per optimizer step (paper: 64)")
    micro_batch_size: int = config_field(
        8, "examples per forward pass; batch_size / micro_batch_size = gradient accumulation"
    )
    max_length: int = config_field(4096, "tokens per example (paper: 4096); longer examples are cut at the end")
    loss_on: str = config_field(
        "assistant",
        '"assistant": all assistant turns; "last": only the last (Ghost Attention); "all": every token',
    )
    lr_schedule: str = config_field(
        "cosine", '"cosine" (to min_lr_ratio of the peak) or "constant" (reward/schedule.py)'
    )
    warmup_steps: int = config_field(0, "linear warm-up in optimizer steps, from lr 0 at step 0 (paper: none for SFT)")
    min_lr_ratio: float = config_field(0.0, "where the cosine ends, as a fraction of the peak")
    adam_beta1: float = config_field(0.9, "AdamW beta1")
    adam_beta2: float = config_field(0.95, "AdamW beta2")
    adam_eps: float = config_field(1e-8, "AdamW epsilon")
    max_grad_norm: float = config_field(1.0, "gradient clipping (0 turns it off)")
    max_steps: int | None = config_field(None, "stop after this many optimizer steps (None: run all epochs)")
    seed: int = config_field(0, "shuffling and any dropout")
    device: str | None = config_field(None, '"cpu", "cuda", ... (None: CUDA when available)')
    progress: bool = config_field(True, "a tqdm bar on stderr")
    tracker: str = config_field(
        "tensorboard", "where step metrics go: tensorboard, mlflow, wandb, trackio or none (tracking.py)"
    )
    tracking_dir: str | None = config_field(None, "the tracker's folder (default <output_dir's parent>/runs)")

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.micro_batch_size < 1:
            raise ValueError("batch_size and micro_batch_size must be >= 1")
        if self.batch_size % self.micro_batch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of micro_batch_size ({self.micro_batch_size})"
            )
        if self.loss_on not in ("assistant", "last", "all"):
            raise ValueError('loss_on must be "assistant", "last" or "all"')
        if self.lr_schedule not in SCHEDULES:
            raise ValueError('lr_schedule must be "cosine" or "constant"')
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}")
        if self.epochs <= 0 or self.learning_rate <= 0 or self.max_length < 2:
            raise ValueError("epochs and learning_rate must be > 0 and max_length >= 2")

    @property
    def accumulation_steps(self) -> int:
        return self.batch_size // self.micro_batch_size
