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
from dataclasses import asdict
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
from annotation.services.iteration_config import IterationConfig
from annotation.services.iteration_ppo import policy_ppo
from annotation.services.model_versions import model_version_set_current
from annotation.services.promotion import policy_compare, policy_win_rates_record
from annotation.services.training import (
    policy_pool_merge,
    policy_refresh,
    reward_models_accuracy,
    reward_models_train,
)
from annotation.simulation.oracle import oracle_score  # held-out evaluation only: never reaches training
from reward_training.data.prompts import prompts_read
from reward_training.evaluation.policy_eval import win_rate_fields
from reward_training.evaluation.win_rate import promotion_passes
from reward_training.model_size import parameter_count_from_config

logger = logging.getLogger(__name__)
HELDOUT_EXAMPLES = 10  # held-out prompts whose replies before and after an iteration its result shows


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
    derived = {  # the settings left unset, chosen for this machine and this policy (each with its reason)
        "rm_base": config.rm_base_choose(policy.path),
        "sft_lr": config.sft_lr_choose(parameter_count_from_config(policy.path)),
    }
    training = config.training(rlhf_round, sft_lr=derived["sft_lr"]["value"])
    batch_names = sorted(Batch.objects.filter(dialogues__isnull=False).values_list("name", flat=True).distinct())
    rms = reward_models_train(
        data=data,
        base=derived["rm_base"]["value"],
        workdir=workdir,
        suffix=f"iter{iteration}",
        batches=batch_names,
        training=training,
        current=True,
    )
    lap("reward_models")

    def heldout_compare(new: ModelVersion, old: ModelVersion) -> dict:
        """new against old on the held-out prompts, judged by the new RMs and by the oracle."""
        return policy_compare(
            new_path=new.path,
            old_path=old.path,
            helpfulness_rm=rms["helpfulness"].path,
            safety_rm=rms["safety"].path,
            prompts_file=config.heldout_prompts,
            limit=config.heldout_limit,
            max_new_tokens=config.max_new_tokens,
            seed=config.seed,
            judges={"oracle": oracle_score},
        )

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
        new, ppo_report = policy_ppo(iteration, rs_policy, rms, workdir, config)
        versus_rs = heldout_compare(new, rs_policy)
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

    evaluation = heldout_compare(new, policy)
    promoted = promotion_passes(evaluation["rm"], config.promotion_threshold)
    if promoted:
        model_version_set_current(version=new)
        policy_pool_merge(policy=new)  # only a promoted policy's samples join the pool
    policy_win_rates_record(version=new, parent=policy, evaluation=evaluation, promoted=promoted)
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
        "derived": derived,
    }


def _rates(evaluation: dict, prefix: str = "") -> dict:
    """rm_win_rate / oracle_win_rate with their 95% intervals, over all, safety and helpfulness prompts."""
    return win_rate_fields(evaluation["by_kind"], prefix)
