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
from reward_training.model_size import by_size, explicit, parameters_text
from reward_training.reward.losses import MARGIN_TABLES
from reward_training.tracking import TRACKERS

PRECISIONS = ("auto", "fp32", "bf16")
DEFAULT_MICRO_BATCH = 8  # pairs per forward pass unless the batch is smaller
# Peak learning rate by model size (paper 3.2.2): 1e-5, and 5e-6 for the largest (70B) model.
LARGE_MODEL_PARAMETERS = 60e9
LEARNING_RATE, LARGE_MODEL_LEARNING_RATE = 1e-5, 5e-6
# The paper's batch (512 pairs) and single epoch suit its ~1.4M pairs; on a few thousand they make a handful of
# optimizer steps and a reward model near chance. Below SMALL_DATA_PAIRS training pairs, an unset batch_size,
# epochs and (for models under SMALL_DATA_MAX_PARAMETERS) learning_rate take the small-data settings instead.
# Measured with MiniLM on HH-harmless rows 1-1,400: 69.0% on rows 1,401-1,800, against 59.8% at batch 8, one
# epoch and 1e-5 (bench/RESULTS.md, "Small-data defaults"); larger models keep the paper's learning rate.
PAPER_BATCH_SIZE, PAPER_EPOCHS = 512, 1
SMALL_DATA_PAIRS = 20_000
SMALL_DATA_BATCH_SIZE, SMALL_DATA_EPOCHS, SMALL_DATA_LEARNING_RATE = 32, 3, 5e-5
# With fewer pairs still (a loop iteration's few hundred), three passes are a couple of dozen steps: MiniLM on
# 200 oracle-labelled SmolLM2 pairs reached 57.3% at 3 epochs and 64.5% at 10 (bench/RESULTS.md, "Why the
# SmolLM2 run missed"). So small data gets as many epochs as make SMALL_DATA_MIN_STEPS optimizer steps,
# from SMALL_DATA_EPOCHS up to SMALL_DATA_MAX_EPOCHS (which bounds the time a loop iteration spends on them).
SMALL_DATA_MIN_STEPS, SMALL_DATA_MAX_EPOCHS = 128, 8
SMALL_DATA_MAX_PARAMETERS = 1e9


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
    epochs: int | None = config_field(
        None,
        "passes over the data; None: 1 (the paper's, longer overfits) from 20,000 training pairs on, 3 below",
    )
    learning_rate: float | None = config_field(
        None,
        "peak learning rate; None derives it from the base model's parameter count: 5e-6 from 60B on, else "
        "1e-5 (paper 3.2.2: 1e-5, 5e-6 for the largest model); 5e-5 under 20,000 pairs for models under 1B",
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
    batch_size: int | None = config_field(
        None,
        "pairs per optimizer step, over all processes; None: 512 (paper: 512 pairs, 1,024 sequences) from "
        "20,000 training pairs on, 32 below",
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
        if self.micro_batch_size is None and self.batch_size is not None:
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
        if self.micro_batch_size is not None and (
            self.micro_batch_size < 1 or (self.batch_size is not None and self.batch_size < self.micro_batch_size)
        ):
            problems.append("need 1 <= micro_batch_size <= batch_size")
        if self.batch_size is not None and self.batch_size < 1:
            problems.append("batch_size must be at least 1 (or None: derived from the data size)")
        if self.epochs is not None and self.epochs < 1:
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

    def data_size_choose(self, n_pairs: int, n_params: int) -> dict[str, dict]:
        """batch_size, epochs and learning_rate to train with, each {"value", "parameters", "reason"}: as set,
        else the paper's from SMALL_DATA_PAIRS training pairs on, and the small-data settings below."""
        small = n_pairs < SMALL_DATA_PAIRS
        data = f"{n_pairs:,} training pairs, {'under' if small else 'at least'} {SMALL_DATA_PAIRS:,}"

        def pick(value, what: str, paper, below) -> dict:
            if value is not None:
                return explicit(value, what)
            chosen = below if small else paper
            reason = f"{what} {chosen:g} derived from the data size: {data} (paper: {paper:g}; small data: {below:g})"
            return {"value": chosen, "parameters": None, "reason": reason}

        batch_size = pick(self.batch_size, "batch size", PAPER_BATCH_SIZE, SMALL_DATA_BATCH_SIZE)
        if self.epochs is not None or not small:
            epochs = pick(self.epochs, "epochs", PAPER_EPOCHS, SMALL_DATA_EPOCHS)
        else:  # small data, unset: enough passes for SMALL_DATA_MIN_STEPS steps
            per_epoch = -(-n_pairs // batch_size["value"])
            value = min(SMALL_DATA_MAX_EPOCHS, max(SMALL_DATA_EPOCHS, -(-SMALL_DATA_MIN_STEPS // per_epoch)))
            epochs = {
                "value": value,
                "parameters": None,
                "reason": f"epochs {value} derived from the data size: {data} make {per_epoch} steps an epoch, "
                f"and small data gets enough epochs for {SMALL_DATA_MIN_STEPS} steps, from {SMALL_DATA_EPOCHS} to "
                f"{SMALL_DATA_MAX_EPOCHS} (paper: {PAPER_EPOCHS})",
            }
        learning_rate = self.learning_rate_choose(n_params)
        if self.learning_rate is None and small and n_params < SMALL_DATA_MAX_PARAMETERS:
            learning_rate = {
                "value": SMALL_DATA_LEARNING_RATE,
                "parameters": n_params,
                "reason": f"learning rate {SMALL_DATA_LEARNING_RATE:g} for small data: {data}, and a model of "
                f"{parameters_text(n_params)} parameters, under {parameters_text(int(SMALL_DATA_MAX_PARAMETERS))} "
                f"(else {learning_rate['value']:g}, from the model size)",
            }
        return {"batch_size": batch_size, "epochs": epochs, "learning_rate": learning_rate}

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
