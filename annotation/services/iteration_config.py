"""IterationConfig: the settings of one simulated RLHF iteration (annotation/services/iterations.py),
with rejection sampling's temperature schedule and the training settings it hands to the training services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotation.services.training import TrainingSettings

ASSETS = Path(settings.BASE_DIR) / "assets" / "prompts"


@dataclass
class IterationConfig:
    url: str  # the server the simulated annotators drive
    users: int = 4  # simulated annotators per track
    comparisons: int = 25  # comparisons per annotator per track
    profile: str | None = None  # simulate_annotators --profile
    temperatures: tuple[float, float] = (0.7, 1.2)  # the batches' sampling range
    # the batches sample the current policy and its parent (or the policy sampled before it), so that a
    # pair's replies come from two model variants (paper 3.2.1); False: the current policy alone
    sample_parent: bool = True
    max_new_tokens: int = 64
    k: int = 8  # rejection sampling: samples per prompt
    # Rejection sampling's temperature by the policy's RLHF round (paper Fig. 8: the best T moves as the model
    # changes): entry n is for a policy n rejection-sampling refreshes from the SFT model, the last entry for
    # every later one. 1.0 for the SFT model; 1.2, the low end of the paper's [1.2, 1.3], once RLHF has begun.
    rs_temperatures: tuple[float, ...] = (1.0, 1.2)
    temperature: float | None = None  # one rejection-sampling temperature for this iteration, over the schedule
    rs_prompts: str = str(ASSETS / "rejection_sampling.jsonl")
    heldout_prompts: str = str(ASSETS / "heldout.jsonl")  # JSONL with a safety flag per prompt
    heldout_limit: int | None = None  # evaluate on the first N held-out prompts (None: all)
    rm_base: str | None = None  # default: the current policy (the paper initialises RMs from the chat model)
    rm_batch_size: int = 32
    rm_max_length: int = 256
    rm_lr: float = 1e-4
    rm_epochs: int = 1  # the paper trains one epoch; a few hundred pairs on a tiny model need more passes
    sft_epochs: float = 2.0
    sft_lr: float = 1e-4
    promotion_threshold: float = 0.5  # RM-judged win rate over the current policy needed to become current
    seed: int = 0
    ppo: bool = False  # PPO on top of the rejection-sampling checkpoint (the paper, from RLHF-V4 on)
    ppo_iterations: int = 20
    ppo_batch_size: int = 32
    ppo_minibatch_size: int = 8
    ppo_lr: float = 5e-5  # the paper's 1e-6 is for 7B+ models; the tiny demo model needs more
    ppo_beta: float = 0.01
    ppo_heldout: int = 30  # rejection-sampling prompts kept apart for PPO's early stopping
    gatt: bool = False  # Ghost Attention on this iteration's annotated dialogues (paper 3.3)
    context_distillation: bool = False  # targeted safety context distillation on the safety prompts (paper 4.2.4)

    def __post_init__(self) -> None:
        if not self.rs_temperatures or any(t <= 0 for t in self.rs_temperatures):
            raise ValueError("rs_temperatures: give one or more temperatures, each above 0")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError("temperature must be above 0")

    def rs_temperature(self, rlhf_round: int) -> float:
        """Rejection sampling's temperature for a policy `rlhf_round` refreshes from the SFT model."""
        if self.temperature is not None:
            return self.temperature
        return self.rs_temperatures[min(rlhf_round, len(self.rs_temperatures) - 1)]

    def training(self, rlhf_round: int = 0) -> TrainingSettings:
        return TrainingSettings(
            rm_batch_size=self.rm_batch_size,
            rm_max_length=self.rm_max_length,
            rm_lr=self.rm_lr,
            rm_epochs=self.rm_epochs,
            k=self.k,
            temperature=self.rs_temperature(rlhf_round),
            max_new_tokens=self.max_new_tokens,
            sft_epochs=self.sft_epochs,
            sft_lr=self.sft_lr,
            seed=self.seed,
        )
