"""IterationConfig: the settings of one simulated RLHF iteration (annotation/services/iterations.py),
with rejection sampling's temperature schedule and the training settings it hands to the training services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from annotation.services.training import TrainingSettings

ASSETS = Path(settings.BASE_DIR) / "assets" / "prompts"
# Rejection sampling's SFT learning rate by the policy's size, (parameters below, lr): see sft_lr_choose.
SFT_LR_BY_SIZE = ((10e6, 3e-4), (1e9, 1e-4))


@dataclass
class IterationConfig:
    url: str  # the server the simulated annotators drive
    users: int = 4  # simulated annotators per track
    comparisons: int = 50  # comparisons per annotator per track (200 a track with 4 annotators)
    profile: str | None = None  # simulate_annotators --profile
    temperatures: tuple[float, float] = (0.7, 1.2)  # the batches' sampling range
    # the batches sample the current policy and its parent (or the policy sampled before it), so that a
    # pair's replies come from two model variants (paper 3.2.1); False: the current policy alone
    sample_parent: bool = True
    max_new_tokens: int = 64
    k: int = 16  # rejection sampling: samples per prompt
    # Rejection sampling's temperature by the policy's RLHF round (paper Fig. 8: the best T moves as the model
    # changes): entry n is for a policy n rejection-sampling refreshes from the SFT model, the last entry for
    # every later one. 1.0 for the SFT model; 1.2, the low end of the paper's [1.2, 1.3], once RLHF has begun.
    rs_temperatures: tuple[float, ...] = (1.0, 1.2)
    temperature: float | None = None  # one rejection-sampling temperature for this iteration, over the schedule
    rs_prompts: str = str(ASSETS / "rejection_sampling.jsonl")
    heldout_prompts: str = str(ASSETS / "heldout.jsonl")  # JSONL with a safety flag per prompt
    heldout_limit: int | None = None  # evaluate on the first N held-out prompts (None: all)
    # None: the current policy where CUDA is (the paper initialises RMs from the chat model), the packaged
    # MiniLM encoder on a CPU machine (a 135M decoder RM trains several times slower there; rm_base_choose)
    rm_base: str | None = None
    rm_batch_size: int | None = None  # None: derived with the epochs and lr (32 under 20,000 pairs, else 512)
    rm_max_length: int = 256
    rm_lr: float | None = None  # None: derived from the data size and the model (RewardConfig.data_size_choose)
    rm_epochs: int | None = None  # None: likewise (3 under 20,000 pairs, the paper's 1 from there)
    sft_epochs: float = 3.0
    sft_lr: float | None = None  # None: derived from the policy's size (sft_lr_choose)
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

    def rm_base_choose(self, policy_path: str) -> dict:
        """The reward models' base checkpoint, {"value", "reason"}: rm_base when set, else by the machine."""
        if self.rm_base:
            return {"value": self.rm_base, "reason": "rm_base set explicitly"}
        import torch

        if torch.cuda.is_available():
            return {"value": policy_path, "reason": "the current policy, as the paper initialises its RMs (CUDA)"}
        from reward_training.reward.model import packaged_encoder_dir

        return {
            "value": packaged_encoder_dir(),
            "reason": "the packaged MiniLM encoder: no CUDA here, and a decoder RM from the policy trains several "
            "times slower on a CPU",
        }

    def sft_lr_choose(self, policy_parameters: int) -> dict:
        """Rejection sampling's SFT peak learning rate, {"value", "parameters", "reason"}: sft_lr when set, else
        by the policy's size: 3e-4 under 10M parameters (the 2.4M demo model's loop passed with it), 1e-4 up
        to 1B (SmolLM2-135M), and from 1B the rejection-sampling default (RejectionSamplingConfig.sft, 1e-5)."""
        from reward_training.model_size import explicit, parameters_text
        from reward_training.policy.rejection_sampling_config import RejectionSamplingConfig

        if self.sft_lr is not None:
            return explicit(self.sft_lr, "SFT learning rate")
        paper = RejectionSamplingConfig().sft.learning_rate
        value = next((lr for limit, lr in SFT_LR_BY_SIZE if policy_parameters < limit), paper)
        bands = ", ".join(f"{lr:g} under {parameters_text(int(limit))}" for limit, lr in SFT_LR_BY_SIZE)
        return {
            "value": value,
            "parameters": policy_parameters,
            "reason": f"SFT learning rate {value:g} derived from the policy's {parameters_text(policy_parameters)} "
            f"parameters ({bands}, else {paper:g})",
        }

    def training(self, rlhf_round: int = 0, *, sft_lr: float | None = None) -> TrainingSettings:
        """The training services' settings; `sft_lr` is sft_lr_choose's value (None: the SFT default)."""
        return TrainingSettings(
            rm_batch_size=self.rm_batch_size,
            rm_max_length=self.rm_max_length,
            rm_lr=self.rm_lr,
            rm_epochs=self.rm_epochs,
            k=self.k,
            temperature=self.rs_temperature(rlhf_round),
            max_new_tokens=self.max_new_tokens,
            sft_epochs=self.sft_epochs,
            sft_lr=self.sft_lr if sft_lr is None else sft_lr,
            seed=self.seed,
        )
