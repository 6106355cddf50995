"""One RLHF iteration end to end (Llama 2 paper, section 3.2.3; docs/architecture.md), with simulated annotators:

    batch sampling the current policy and its parent → simulated annotation over the real API → export →
    the current RMs' accuracy on the new batches → helpfulness and safety RMs on the paper's mixtures
    (all data so far) → rejection sampling at the policy's temperature →
    promotion gate (RM-judged win rate over the current policy) → win rates by the RMs and the oracle.

The oracle only judges here, in evaluation; training sees it only through the annotations.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.core.management import call_command

from annotation.models import Batch, ModelVersion
from annotation.selectors.exports import preference_export_rows
from annotation.selectors.model_versions import model_version_current
from annotation.services.batches import batch_activate, batch_close, batch_create
from annotation.services.data_builders import policy_context_distill, policy_gatt
from annotation.services.exports import preference_export_write
from annotation.services.model_versions import model_version_register, model_version_set_current
from annotation.services.training import (
    TrainingSettings,
    policy_pool_merge,
    policy_refresh,
    reward_models_accuracy,
    reward_models_train,
)
from reward_training.data.prompts import prompts_read
from reward_training.evaluation.policy_eval import paired_win_rates, policy_samples, win_rate_fields
from reward_training.evaluation.win_rate import promotion_passes
from reward_training.policy.ppo import PPOConfig, ppo_train
from reward_training.policy.rewards import combined_scores, truncated_share
from reward_training.reward.scorer import RewardScorer

logger = logging.getLogger(__name__)
ASSETS = Path(settings.BASE_DIR) / "assets" / "prompts"
HELDOUT_EXAMPLES = 10  # held-out prompts whose replies before and after an iteration its result shows


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


def _next_iteration() -> int:
    names = ModelVersion.objects.filter(kind="policy", name__startswith="policy-iter").values_list("name", flat=True)
    numbers = [int(n.removeprefix("policy-iter")) for n in names if n.removeprefix("policy-iter").isdigit()]
    return max(numbers, default=0) + 1


def _rlhf_round(policy: ModelVersion) -> int:
    """How many rejection-sampling refreshes lie between the policy and the SFT model it descends from."""
    rounds, version = 0, policy
    while version is not None:
        rounds += version.lineage.get("method") == "rejection_sampling"
        version = version.parent
    return rounds


def _variant_partner(policy: ModelVersion) -> ModelVersion | None:
    """The second model variant a batch samples beside the current policy: its parent, or else the policy
    that the latest batch naming another one sampled (the previous current version); None for a first policy."""
    if policy.parent is not None and policy.parent.kind == ModelVersion.Kind.POLICY:
        return policy.parent
    for batch in Batch.objects.order_by("-created_at", "-pk").prefetch_related("policy_versions"):
        others = [v for v in batch.policy_versions.all() if v.pk != policy.pk]
        if others:
            return others[0]
    return None


def _open_batches(iteration: int, policy: ModelVersion, config: IterationConfig) -> list[Batch]:
    """A batch per track, sampling the current policy and its variant partner at two temperatures (one from
    each half of the range, sampling_plan_draw); with no partner, the current policy at two temperatures."""
    partner = _variant_partner(policy) if config.sample_parent else None
    versions = [policy.name] + ([partner.name] if partner else [])
    batches = []
    for track in ("helpfulness", "safety"):
        for active in Batch.objects.filter(track=track, status=Batch.Status.ACTIVE):
            batch_close(batch=active)
        batch = batch_create(
            name=f"iter{iteration}-{track}",
            track=track,
            policy_versions=versions,
            temperature_min=config.temperatures[0],
            temperature_max=config.temperatures[1],
            target_comparisons=config.users * config.comparisons,
            max_new_tokens=config.max_new_tokens,
        )
        batches.append(batch_activate(batch=batch))
    return batches


def _simulate(config: IterationConfig, track: str) -> dict:
    out = StringIO()
    args = [
        "simulate_annotators",
        "--users",
        str(config.users),
        "--comparisons",
        str(config.comparisons),
        "--track",
        track,
        "--url",
        config.url,
        "--seed",
        str(config.seed),
        "--username-prefix",
        f"sim-{track}",
    ]
    if config.profile:
        args += ["--profile", config.profile]
    call_command(*args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue().strip().splitlines()[-1])


def _export(path: Path) -> int:
    """Everything so far: every batch's comparisons and every imported source."""
    return sum(preference_export_write(path, preference_export_rows()).values())


def _accuracy_before_retraining(batches: list[Batch], workdir: Path) -> dict:
    """The current RMs' accuracy on each new batch, before they are retrained (paper 3.2.2): {batch: {"pairs",
    track: figures}}; {} when no RMs are current yet (a first iteration)."""
    rms = {track: model_version_current(kind="reward", track=track) for track in ("helpfulness", "safety")}
    if any(version is None for version in rms.values()):
        return {}
    measured = {}
    for batch in batches:
        data = workdir / f"{batch.name}.jsonl"
        pairs = sum(preference_export_write(data, preference_export_rows(batches=[batch.name])).values())
        if pairs:
            measured[batch.name] = {"pairs": pairs, **reward_models_accuracy(rms=rms, data=data)}
    return measured


def iteration_run(config: IterationConfig) -> dict:
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.perf_counter() - started - sum(timings.values()), 1)

    policy = model_version_current(kind="policy")
    if policy is None:
        raise ValueError("no current policy: register one with --current (or run bootstrap_demo)")
    iteration = _next_iteration()
    workdir = Path(settings.MODEL_DIR) / "iterations" / f"iter{iteration}"
    workdir.mkdir(parents=True, exist_ok=True)

    batches = _open_batches(iteration, policy, config)
    simulated = {b.track: _simulate(config, b.track) for b in batches}
    for batch in batches:
        batch_close(batch=batch)
    lap("annotation")

    data = workdir / "preferences.jsonl"
    pairs = _export(data)
    lap("export")

    before = _accuracy_before_retraining(batches, workdir)
    lap("reward_model_accuracy")

    rlhf_round = _rlhf_round(policy)
    training = config.training(rlhf_round)
    batch_names = sorted(Batch.objects.filter(dialogues__isnull=False).values_list("name", flat=True).distinct())
    rms = reward_models_train(
        data=data,
        base=config.rm_base or policy.path,
        workdir=workdir,
        suffix=f"iter{iteration}",
        batches=batch_names,
        training=training,
        current=True,
    )
    lap("reward_models")

    new, rs = policy_refresh(
        policy=policy,
        rms=rms,
        prompts=prompts_read(config.rs_prompts),
        workdir=workdir,
        name=f"policy-iter{iteration}",
        training=training,
        lineage={"iteration": iteration, "batches": [b.name for b in batches], "data": str(data)},
    )
    lap("rejection_sampling")

    ppo_report = None
    if config.ppo:
        rs_policy = new
        new, ppo_report = _ppo(iteration, rs_policy, rms, workdir, config)
        versus_rs = policy_compare(
            new_path=new.path,
            old_path=rs_policy.path,
            helpfulness_rm=rms["helpfulness"].path,
            safety_rm=rms["safety"].path,
            prompts_file=config.heldout_prompts,
            limit=config.heldout_limit,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        )
        ppo_report.update(_rates(versus_rs, prefix="versus_rejection_sampling_"))
        lap("ppo")

    builders = {}
    if config.gatt:
        new, builders["gatt"] = policy_gatt(
            policy=new,
            batches=[b.name for b in batches],
            workdir=workdir,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        )
        lap("gatt")
    if config.context_distillation:
        new, builders["context_distillation"] = policy_context_distill(
            policy=new,
            safety_rm=rms["safety"],
            prompts_file=config.rs_prompts,
            workdir=workdir,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
        )
        lap("context_distillation")

    evaluation = policy_compare(
        new_path=new.path,
        old_path=policy.path,
        helpfulness_rm=rms["helpfulness"].path,
        safety_rm=rms["safety"].path,
        prompts_file=config.heldout_prompts,
        limit=config.heldout_limit,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
    )
    promoted = promotion_passes(evaluation["rm"], config.promotion_threshold)
    if promoted:
        model_version_set_current(version=new)
        policy_pool_merge(policy=new)  # only a promoted policy's samples join the pool
    replies = workdir / "heldout_replies.jsonl"
    replies.write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in evaluation["replies"]), encoding="utf-8"
    )
    lap("evaluation")
    return {
        "iteration": iteration,
        "policy": new.name,
        "parent": policy.name,
        "promoted": promoted,
        "current_policy": model_version_current(kind="policy").name,
        **_rates(evaluation),
        "heldout_prompts": evaluation["rm"].n,
        "heldout_safety_prompts": evaluation["safety_prompts"],
        "comparisons": {track: result.get("comparisons") for track, result in simulated.items()},
        "preference_pairs": pairs,
        "batch_policies": sorted(batches[0].policy_versions.values_list("name", flat=True)),
        "reward_models": {kind: version.name for kind, version in rms.items()},
        # the RMs that were current before this iteration, scored on its new batches before retraining
        "accuracy_before_retraining": before,
        "rejection_sampling": {
            "temperature": training.temperature,
            "rlhf_round": rlhf_round,
            **{
                k: rs[k]
                for k in (
                    "pool_size",
                    "training_examples",
                    "training_from_pool",
                    "mean_best_reward",
                    "mean_median_reward",
                    "truncated",
                )
            },
        },
        # the share of replies cut off at max_new_tokens: rejection sampling's samples, kept ones and pool;
        # PPO's rollouts (first and last iteration); the held-out replies of the new and the old policy
        "truncated": {
            "rejection_sampling": rs["truncated"],
            "ppo": ppo_report and ppo_report["truncated"],
            "heldout": evaluation["truncated"],
        },
        "ppo": ppo_report,
        "gatt": builders.get("gatt"),
        "context_distillation": builders.get("context_distillation"),
        "heldout_replies": str(replies),
        "heldout_examples": evaluation["replies"][:HELDOUT_EXAMPLES],
        "seconds": timings,
        "config": asdict(config),
    }


def _rates(evaluation: dict, prefix: str = "") -> dict:
    """rm_win_rate / oracle_win_rate with their 95% intervals, over all, safety and helpfulness prompts."""
    return win_rate_fields(evaluation["by_kind"], prefix)


def _ppo(iteration: int, rs_policy: ModelVersion, rms: dict, workdir: Path, config: IterationConfig):
    """PPO on top of the rejection-sampling checkpoint, with the iteration's reward models."""
    import random

    items = prompts_read(config.rs_prompts)
    random.Random(config.seed).shuffle(items)
    keep = min(config.ppo_heldout, len(items) // 3)
    heldout, train = items[:keep], items[keep:]
    minibatch = min(config.ppo_minibatch_size, len(train))
    batch = min(config.ppo_batch_size, len(train)) // minibatch * minibatch  # a small prompt set shrinks both
    ppo_config = PPOConfig(
        iterations=config.ppo_iterations,
        batch_size=batch,
        minibatch_size=minibatch,
        micro_batch_size=min(8, minibatch),
        learning_rate=config.ppo_lr,
        beta=config.ppo_beta,
        max_new_tokens=config.max_new_tokens,
        eval_every=5,
        seed=config.seed,
    )
    result = ppo_train(
        ppo_config,
        policy_dir=rs_policy.path,
        helpfulness_rm_dir=rms["helpfulness"].path,
        safety_rm_dir=rms["safety"].path,
        prompts=train,
        heldout_prompts=heldout or None,
        output_dir=workdir / "policy-ppo",
    )
    version = model_version_register(
        name=f"{rs_policy.name}-ppo",
        kind="policy",
        path=str(workdir / "policy-ppo"),
        parent=rs_policy,
        lineage={
            "method": "ppo",
            "iteration": iteration,
            "parent": rs_policy.name,
            "helpfulness_rm": rms["helpfulness"].name,
            "safety_rm": rms["safety"].name,
            "beta": config.ppo_beta,
            "iterations_run": result["iterations_run"],
        },
        metrics={
            "heldout_rewards": result.get("heldout_rewards"),
            "best_iteration": result.get("best_iteration"),
            "tracking": result.get("tracking"),
        },
    )
    return version, {
        k: result.get(k)
        for k in (
            "iterations_run",
            "stopped_early",
            "best_iteration",
            "initial_heldout_reward",
            "heldout_rewards",
            "truncated",
        )
    }


def policy_compare(
    *,
    new_path: str,
    old_path: str,
    helpfulness_rm: str,
    safety_rm: str,
    prompts_file: str,
    limit: int | None = None,
    max_new_tokens: int = 64,
    seed: int = 0,
) -> dict:
    """Win rates of new over old on held-out prompts, judged by the RMs' combined reward and by the oracle:
    "rm" and "oracle" over all prompts, "by_kind" {judge: {"all", "safety", "helpfulness": WinRate | None}}
    over the prompts the file flags as safety prompts and the others.

    "replies" holds every prompt's two replies side by side, with both judges' scores."""
    from annotation.simulation.oracle import oracle_score  # evaluation only: never reaches training

    items = prompts_read(prompts_file)[:limit]
    sampling = dict(temperature=0.7, max_new_tokens=max_new_tokens, seed=seed)
    new, new_finished = policy_samples(new_path, items, **sampling)
    old, old_finished = policy_samples(old_path, items, **sampling)
    helpfulness, safety = RewardScorer(helpfulness_rm), RewardScorer(safety_rm)
    scores = {}
    for side, texts, finished in (("new", new, new_finished), ("old", old, old_finished)):
        scores[f"rm_{side}"] = combined_scores(helpfulness, safety, items, texts, finished=finished)[
            "combined"
        ].tolist()
        scores[f"oracle_{side}"] = [oracle_score(text) for text in texts]
    replies = [
        {
            "prompt": item.messages[-1]["content"],
            "safety": item.safety,
            "new": a,
            "old": b,
            **{key: values[i] for key, values in scores.items()},
        }
        for i, (item, a, b) in enumerate(zip(items, new, old))
    ]
    truncated = {"new": truncated_share(new_finished), "old": truncated_share(old_finished)}
    flags = [item.safety for item in items]
    by_kind = {
        judge: paired_win_rates(scores[f"{judge}_new"], scores[f"{judge}_old"], flags) for judge in ("rm", "oracle")
    }
    return {judge: by_kind[judge]["all"] for judge in by_kind} | {
        "by_kind": by_kind,
        "safety_prompts": sum(flags),
        "replies": replies,
        "truncated": truncated,
    }
