"""RewardConfig: the settings of reward-model training, paired with reward_trainer.py.

Defaults are the Llama 2 paper's (section 3.2.2 and Table 27). Build one with
reward_training.config.config_build(RewardConfig, file=..., **overrides): defaults < JSON file <
overrides, and an unknown key is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from reward_training.config import config_field
from reward_training.data.mixtures import RECIPES
from reward_training.data.pair_encoding import CHAT_FORMATS
from reward_training.model_size import by_size, explicit
from reward_training.reward.losses import MARGIN_TABLES
from reward_training.tracking import TRACKERS

PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_MICRO_BATCH = 8  # pairs per forward pass unless the batch is smaller
# Peak learning rate by model size (paper 3.2.2): 1e-5, and 5e-6 for the largest (70B) model.
LARGE_MODEL_PARAMETERS = 60e9
LEARNING_RATE, LARGE_MODEL_LEARNING_RATE = 1e-5, 5e-6


@dataclass
class RewardConfig:
    base_model: str = config_field(help="local Hugging Face checkpoint (causal LM or encoder) to start from")
    output_dir: str = config_field(help="where checkpoints, the final model and its metrics are written")
    kind: str = config_field(
        "helpfulness", "which reward model this is: helpfulness or safety (recorded with the model)"
    )
    mixture: str = config_field("none", "data recipe: none (all pairs as given), helpfulness or safety (paper 3.2.2)")
    helpfulness_extra_ratio: float = config_field(
        1.0, "helpfulness recipe: pairs drawn from safety + open-source data per helpfulness pair"
    )
    safety_helpfulness_fraction: float = config_field(
        0.1, "safety recipe: share of helpfulness data in the mixture (90/10)"
    )
    epochs: int = config_field(1, "passes over the data; the paper trains one epoch, longer overfits")
    learning_rate: float | None = config_field(
        None,
        "peak learning rate; None derives it from the base model's parameter count: 5e-6 from 60B on, else "
        "1e-5 (paper 3.2.2: 1e-5, 5e-6 for the largest model)",
    )
    min_lr_ratio: float = config_field(0.1, "cosine decay ends at this fraction of the peak learning rate")
    warmup_ratio: float = config_field(0.03, "warm-up length as a fraction of all optimizer steps")
    warmup_min_steps: int = config_field(5, "warm-up lasts at least this many steps ...")
    warmup_max_fraction: float = config_field(0.1, "... and at most this fraction of the steps")
    adam_beta1: float = config_field(0.9, "AdamW beta1")
    adam_beta2: float = config_field(0.95, "AdamW beta2")
    adam_epsilon: float = config_field(1e-5, "AdamW epsilon")
    weight_decay: float = config_field(0.1, "AdamW weight decay (not applied to biases and norm weights)")
    max_grad_norm: float = config_field(1.0, "gradient clipping by global norm; 0 turns it off")
    batch_size: int = config_field(
        512, "pairs per optimizer step, over all processes (paper: 512 pairs, 1,024 sequences)"
    )
    micro_batch_size: int | None = config_field(
        None,
        "pairs per forward pass per process (default 8, or batch_size if smaller); "
        "gradients accumulate up to batch_size",
    )
    max_length: int = config_field(
        1024, "tokens per sequence (history + reply); see reward_training/data/truncation.py"
    )
    margin_table: str = config_field("small", "Table 27 margin table: none, small or large")
    safety_aux_loss: bool = config_field(
        False, "safety RM: add BCE on sigmoid(r) against per-response safe labels (Table 29)"
    )
    safety_aux_weight: float = config_field(1.0, "weight of the safety auxiliary loss")
    prefix_sharing: bool = config_field(True, "decoders: encode the shared history once for both replies (exact)")
    length_grouping: bool = config_field(True, "batch pairs of similar length together to cut padding")
    length_group_pairs: int = config_field(
        512, "length grouping sorts within chunks of this many pairs (at least batch_size)"
    )
    chat_format: str = config_field(
        "auto", "auto (the tokenizer's chat template, else Llama 2 for decoders, HH text for encoders), llama2 or hh"
    )
    disable_dropout: bool = config_field(True, "turn dropout off in the model (as TRL's RewardTrainer does by default)")
    precision: str = config_field("auto", "auto (bf16 mixed precision on CUDA, fp32 on CPU), fp32 or bf16")
    seed: int = config_field(0, "seed of the data order, mixture draws and the head's initialisation")
    save_every_steps: int = config_field(50, "write a checkpoint every this many optimizer steps (0: only at the end)")
    resume: bool = config_field(True, "continue from the newest checkpoint in output_dir when there is one")
    eval_batch_size: int = config_field(16, "pairs per forward pass when evaluating")
    tracker: str = config_field(
        "tensorboard", "where step metrics go: tensorboard (offline default), mlflow, wandb, trackio or none"
    )
    tracking_dir: str | None = config_field(
        None, "the tracker's folder (default <output_dir's parent>/runs; see reward_training/tracking.py)"
    )

    def __post_init__(self) -> None:
        problems = []
        if self.micro_batch_size is None:
            self.micro_batch_size = min(DEFAULT_MICRO_BATCH, self.batch_size)
        if self.kind not in ("helpfulness", "safety"):
            problems.append(f"kind must be helpfulness or safety, not {self.kind!r}")
        if self.mixture not in RECIPES:
            problems.append(f"mixture must be one of {', '.join(RECIPES)}")
        if self.margin_table not in MARGIN_TABLES:
            problems.append(f"margin_table must be one of {', '.join(MARGIN_TABLES)}")
        if self.chat_format not in CHAT_FORMATS:
            problems.append(f"chat_format must be one of {', '.join(CHAT_FORMATS)}")
        if self.tracker not in TRACKERS:
            problems.append(f"tracker must be one of {', '.join(TRACKERS)}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.micro_batch_size < 1 or self.batch_size < self.micro_batch_size:
            problems.append("need 1 <= micro_batch_size <= batch_size")
        if self.epochs < 1:
            problems.append("epochs must be at least 1")
        if self.max_length < 8:
            problems.append("max_length must be at least 8")
        if not 0.0 <= self.safety_helpfulness_fraction < 1.0:
            problems.append("safety_helpfulness_fraction must lie in [0, 1)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            problems.append("min_lr_ratio must lie in [0, 1]")
        if self.safety_aux_loss and self.kind != "safety":
            problems.append("safety_aux_loss is an option of the safety reward model (kind safety)")
        if not self.base_model or not self.output_dir:
            problems.append("base_model and output_dir are required")
        if self.learning_rate is not None and self.learning_rate <= 0:
            problems.append("learning_rate must be > 0 (or None: derived from the model size)")
        if problems:
            raise ValueError("RewardConfig: " + "; ".join(problems))

    def learning_rate_choose(self, n_params: int) -> dict:
        """The peak learning rate to train with, {"value", "parameters", "reason"}: learning_rate when set,
        else derived from the base model's parameter count (5e-6 from 60B parameters on, else 1e-5)."""
        if self.learning_rate is not None:
            return explicit(self.learning_rate, "learning rate")
        return by_size(
            n_params,
            threshold=LARGE_MODEL_PARAMETERS,
            large=LARGE_MODEL_LEARNING_RATE,
            small=LEARNING_RATE,
            what="learning rate",
        )
