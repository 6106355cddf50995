"""PPOConfig: the settings of ppo_train, with the Llama 2 paper's values as defaults (section 3.2.3)."""

from __future__ import annotations

from dataclasses import dataclass

from reward_training.config import config_field
from reward_training.model_size import by_size, explicit
from reward_training.policy.rewards import SAFETY_THRESHOLD
from reward_training.tracking import TRACKERS

CRITICS = ("value_head", "reward_model")
PRECISIONS = ("fp32", "bf16")
# KL penalty by model size (paper 3.2.3): 0.01 for 7B/13B, 0.005 for 34B/70B.
LARGE_MODEL_PARAMETERS = 30e9
BETA, LARGE_MODEL_BETA = 0.01, 0.005
# The log-prob check's tolerance by precision. In fp32 the rollout's left-padded and the trainer's
# right-padded passes agree to float rounding (~1e-6). bf16 keeps 8 significant bits (unit roundoff
# 2^-8 ≈ 0.004) and under autocast the logits leave the LM head in bf16: a logit of size 10 is rounded
# by up to 0.04, and the two layouts need not round alike, so the same weights can differ by a few
# hundredths on some token. 0.1 leaves room for that; a sampler on other weights, a shifted position or
# a wrong pad moves some token's log-prob by far more. (A policy one step stale at the paper's 1e-6 moves
# it by less: only the fp32 check sees that.)
LOGPROB_TOLERANCE = {"fp32": 1e-4, "bf16": 0.1}


@dataclass
class PPOConfig:
    """PPO with R = WHITEN(LOGIT(Rc)) - β·KL(π ‖ π0). Defaults are the paper's where it gives a number."""

    iterations: int = config_field(200, "PPO iterations (paper: 200-400, with early stopping on held-out prompts)")
    batch_size: int = config_field(512, "prompts (one rollout each) per iteration (paper: 512)")
    minibatch_size: int = config_field(64, "rollouts per gradient step (paper: 64, one gradient step per minibatch)")
    ppo_epochs: int = config_field(1, "passes over an iteration's rollouts (paper: 1)")
    micro_batch_size: int = config_field(8, "rollouts per forward pass; a minibatch accumulates its micro-batches")
    learning_rate: float = config_field(1e-6, "constant learning rate (paper: 1e-6)")
    critic_learning_rate: float | None = config_field(
        None, 'learning rate of the separate critic ("reward_model"); None: learning_rate'
    )
    adam_beta1: float = config_field(0.9, "AdamW beta1 (paper: 0.9)")
    adam_beta2: float = config_field(0.95, "AdamW beta2 (paper: 0.95)")
    adam_eps: float = config_field(1e-5, "AdamW epsilon (paper: 1e-5)")
    weight_decay: float = config_field(0.1, "AdamW weight decay (paper: 0.1; not on biases and norm weights)")
    max_grad_norm: float = config_field(1.0, "gradient clipping (paper: 1.0); 0 turns it off")
    clip_range: float = config_field(0.2, "PPO ratio clip ε (paper: 0.2)")
    value_clip_range: float | None = config_field(0.2, "value clipping around the rollout's values; None: no clipping")
    value_loss_coef: float = config_field(0.1, "weight of the value loss in the summed loss")
    beta: float | None = config_field(
        None,
        "KL penalty (paper: 0.01 for 7B/13B, 0.005 for 34B/70B); None derives it from the policy's parameter "
        "count: 0.005 from 30B on, else 0.01 (ppo_train records the value and why in its summary)",
    )
    kl_estimator: str = config_field("k1", 'per-token KL estimate: "k1" = log π - log π0, "k3" = r - 1 - log r')
    gamma: float = config_field(1.0, "GAE discount")
    lam: float = config_field(0.95, "GAE λ")
    whiten_advantages: bool = config_field(True, "normalise advantages over the iteration's tokens")
    critic: str = config_field(
        "value_head",
        '"value_head": a linear head on the policy\'s last hidden state; "reward_model": a separate critic '
        "initialised from the helpfulness reward model (its score head read at every response token)",
    )
    temperature: float = config_field(1.0, "sampling temperature; log-probs are taken at the same temperature")
    max_new_tokens: int = config_field(256, "response length limit")
    missing_eos_penalty: float = config_field(
        1.0,
        "subtracted from the whitened score of a response that did not end with EOS (cut off at "
        "max_new_tokens), as TRL's missing_eos_penalty: else PPO can learn that a reply need never end; 0: off",
    )
    safety_threshold: float = config_field(SAFETY_THRESHOLD, "Rc uses Rs when Rs is below this (paper: 0.15)")
    eval_every: int = config_field(10, "iterations between held-out evaluations (and after the last one)")
    early_stopping_patience: int = config_field(
        3, "stop after this many evaluations without a better held-out reward; 0: never"
    )
    generation_batch_size: int = config_field(
        16, "prompts per batched generation call and per rollout-side (no-grad) forward pass"
    )
    score_batch_size: int = config_field(32, "responses per reward-model forward pass")
    precision: str = config_field(
        "fp32",
        '"fp32", or "bf16" autocast: the rollout (sampling, log-probs of π and π0, values) and the update then '
        "run under the same autocast, so the log-prob check and the KL compare like with like",
    )
    logprob_tolerance: float | None = config_field(
        None,
        "max |rollout log-prob - trainer log-prob| before the first update; None: 1e-4 in fp32, 0.1 in bf16 "
        "(ppo_config.LOGPROB_TOLERANCE says why)",
    )
    gradient_checkpointing: bool = config_field(False, "trade compute for memory on large policies")
    seed: int = config_field(0, "seed of the prompt order, sampling and any random initialisation")
    device: str | None = config_field(
        None, '"cpu" forces the CPU; otherwise CUDA when available (one device per process)'
    )
    progress: bool = config_field(True, "a tqdm bar on stderr (main process)")
    tracker: str = config_field(
        "tensorboard", "where per-iteration metrics go: tensorboard, mlflow, wandb, trackio or none (tracking.py)"
    )
    tracking_dir: str | None = config_field(None, "the tracker's folder (default <output_dir's parent>/runs)")

    def __post_init__(self) -> None:
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {', '.join(TRACKERS)}")
        if self.precision in PRECISIONS and self.logprob_tolerance is None:
            self.logprob_tolerance = LOGPROB_TOLERANCE[self.precision]
        if min(self.iterations, self.batch_size, self.minibatch_size, self.micro_batch_size, self.ppo_epochs) < 1:
            raise ValueError("iterations, batch_size, minibatch_size, micro_batch_size and ppo_epochs must be >= 1")
        if self.batch_size % self.minibatch_size:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of minibatch_size ({self.minibatch_size})"
            )
        if self.minibatch_size % self.micro_batch_size:
            raise ValueError(
                f"minibatch_size ({self.minibatch_size}) must be a multiple of "
                f"micro_batch_size ({self.micro_batch_size})"
            )
        if self.critic not in CRITICS:
            raise ValueError(f"critic must be one of {', '.join(CRITICS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.kl_estimator not in ("k1", "k3"):
            raise ValueError('kl_estimator must be "k1" or "k3"')
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 (PPO samples from the policy)")
        if self.learning_rate <= 0 or self.clip_range <= 0 or (self.beta is not None and self.beta < 0):
            raise ValueError("learning_rate and clip_range must be > 0 and beta >= 0")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ValueError("gamma and lam must lie in [0, 1]")
        if self.missing_eos_penalty < 0:
            raise ValueError("missing_eos_penalty must be >= 0 (0 turns it off)")
        if self.eval_every < 1 or self.max_new_tokens < 1:
            raise ValueError("eval_every and max_new_tokens must be >= 1")

    def beta_choose(self, n_params: int) -> dict:
        """The KL penalty to train with, {"value", "parameters", "reason"}: beta when set, else derived from
        the policy's parameter count (0.005 from 30B parameters on, else 0.01)."""
        if self.beta is not None:
            return explicit(self.beta, "KL penalty beta")
        return by_size(
            n_params, threshold=LARGE_MODEL_PARAMETERS, large=LARGE_MODEL_BETA, small=BETA, what="KL penalty beta"
        )

    @property
    def steps_per_iteration(self) -> int:
        """Gradient steps per iteration: one per minibatch, per PPO epoch."""
        return self.ppo_epochs * self.batch_size // self.minibatch_size
