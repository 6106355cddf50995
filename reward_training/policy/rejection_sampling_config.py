"""RejectionSamplingConfig: the settings of one rejection-sampling iteration (policy/rejection_sampling.py).

The defaults follow the Llama 2 paper (section 3.2.3) where it gives a number.
"""

from __future__ import annotations

from dataclasses import dataclass

from reward_training.config import config_field
from reward_training.policy.rewards import SAFETY_THRESHOLD
from reward_training.policy.sft_config import SFTConfig


@dataclass
class RejectionSamplingConfig:
    """Settings of one rejection-sampling iteration; the defaults follow the paper where it gives a number."""

    k: int = config_field(8, "samples per prompt; the gain grows with K (paper Fig. 7 goes to 100)")
    temperature: float = config_field(
        1.0, "sampling temperature, a per-iteration setting: the best T moves as the model changes (paper Fig. 8)"
    )
    top_p: float = config_field(1.0, "nucleus sampling: sample from the smallest token set of this probability")
    max_new_tokens: int = config_field(128, "response length limit")
    safety_threshold: float = config_field(SAFETY_THRESHOLD, "Rc uses Rs when Rs is below this (paper: 0.15)")
    seed: int = config_field(0, "seed of the sampling (and of the sweep's prompt subset)")
    generation_batch_size: int = config_field(8, "prompts per batched generation call (each expands to K rows)")
    score_batch_size: int = config_field(32, "responses per reward-model forward pass")
    device: str | None = config_field(None, '"cpu", "cuda", ... (None: CUDA when available)')
    progress: bool = config_field(True, "a tqdm bar on stderr")
    temperature_sweep: tuple[float, ...] = config_field(
        (),
        "temperatures to sweep before the full run (paper Fig. 8); empty: off, sample at `temperature`. When on, "
        "the grid's best temperature by rejection_sampling.SWEEP_METRIC replaces `temperature`. Costs "
        "len(grid) x sweep_prompts x K samples more, with the policy and both reward models loaded together "
        "during the sweep",
    )
    sweep_prompts: int = config_field(
        32, "prompts the sweep samples (a seeded subset; all of them when there are fewer)"
    )
    sft: SFTConfig = config_field(
        help='the fine-tuning on the kept samples; loss_on="last": the loss on the selected reply only, not on '
        "the history's earlier assistant turns",
        default_factory=lambda: SFTConfig(
            epochs=1.0, learning_rate=1e-5, batch_size=16, micro_batch_size=8, max_length=512, loss_on="last"
        ),
    )

    def __post_init__(self) -> None:
        if isinstance(self.sft, dict):
            self.sft = SFTConfig(**self.sft)
        if self.k < 1:
            raise ValueError("k must be >= 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for sampling")
        self.temperature_sweep = tuple(float(t) for t in self.temperature_sweep or ())
        if any(t <= 0 for t in self.temperature_sweep):
            raise ValueError("temperature_sweep: every temperature must be > 0")
        if self.sweep_prompts < 1:
            raise ValueError("sweep_prompts must be >= 1")
