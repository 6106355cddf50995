"""The promotion gate's two halves: comparing a new policy with an old one on held-out prompts, and making
the new one current only if the one it started from still is.

    evaluation = policy_compare(new_path=..., old_path=..., helpfulness_rm=..., safety_rm=..., prompts_file=...)
    if promotion_passes(evaluation["rm"], threshold):
        refused = policy_promote(new, parent)   # None, or why not

The reward models' combined reward is always a judge ("rm"); a caller adds others by name, each a
function from a reply's text and its prompt to a score (the simulated iterations and `evaluate_policy` add the
simulation's oracle). Nothing here imports the simulation.
"""

from __future__ import annotations

from typing import Callable, Mapping

from django.db import transaction

from annotation.models import ModelVersion
from annotation.services.model_versions import model_version_set_current

TextJudge = Callable[[str, str], float]  # (reply, prompt) -> score


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
    judges: Mapping[str, TextJudge] | None = None,
) -> dict:
    """Win rates of new over old on held-out prompts, judged by the RMs' combined reward ("rm") and by each of
    `judges`: one WinRate per judge over all prompts, and "by_kind" {judge: {"all", "safety", "helpfulness":
    WinRate | None}} over the prompts the file flags as safety prompts and the others.

    "replies" holds every prompt's two replies side by side, with every judge's scores; "truncated" the share
    of each side's replies cut off at max_new_tokens."""
    from reward_training.data.prompts import prompts_read
    from reward_training.evaluation.policy_eval import paired_win_rates, policy_samples
    from reward_training.policy.rewards import combined_scores, truncated_share
    from reward_training.reward.scorer import RewardScorer

    judges = dict(judges or {})
    items = prompts_read(prompts_file)[:limit]
    questions = [item.messages[-1]["content"] for item in items]
    sampling = dict(temperature=0.7, max_new_tokens=max_new_tokens, seed=seed)
    new, new_finished = policy_samples(new_path, items, **sampling)
    old, old_finished = policy_samples(old_path, items, **sampling)
    helpfulness, safety = RewardScorer(helpfulness_rm), RewardScorer(safety_rm)
    scores = {}
    for side, texts, finished in (("new", new, new_finished), ("old", old, old_finished)):
        scores[f"rm_{side}"] = combined_scores(helpfulness, safety, items, texts, finished=finished)[
            "combined"
        ].tolist()
        for name, judge in judges.items():
            scores[f"{name}_{side}"] = [judge(text, question) for question, text in zip(questions, texts)]
    replies = [
        {
            "prompt": question,
            "safety": item.safety,
            "new": a,
            "old": b,
            **{key: values[i] for key, values in scores.items()},
        }
        for i, (item, question, a, b) in enumerate(zip(items, questions, new, old))
    ]
    truncated = {"new": truncated_share(new_finished), "old": truncated_share(old_finished)}
    flags = [item.safety for item in items]
    by_kind = {
        judge: paired_win_rates(scores[f"{judge}_new"], scores[f"{judge}_old"], flags) for judge in ("rm", *judges)
    }
    return {judge: by_kind[judge]["all"] for judge in by_kind} | {
        "by_kind": by_kind,
        "safety_prompts": sum(flags),
        "replies": replies,
        "truncated": truncated,
    }


def policy_promote(new: ModelVersion, parent: ModelVersion) -> str | None:
    """Make `new` current if `parent` still is (check and set), and add its staged rejection-sampling
    samples to its lineage's pool; otherwise say why not (and the pool stays as it was)."""
    from annotation.services.training import policy_pool_merge  # torch: lazy

    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(kind="policy", track="", is_current=True).first()
        if current is None or current.pk != parent.pk:
            return f"not promoted: the current policy changed to {current.name if current else 'none'} during the job"
        model_version_set_current(version=new)
    policy_pool_merge(policy=new)
    return None


def policy_win_rates_record(*, version: ModelVersion, parent: ModelVersion, evaluation: dict, promoted: bool) -> None:
    """Keep a held-out comparison's win rates on the new version (metrics["heldout_win_rates"]), where the
    dashboard's batches page draws them across versions."""
    from reward_training.evaluation.policy_eval import win_rate_fields

    record = {
        "parent": parent.name,
        "prompts": evaluation["rm"].n,
        "safety_prompts": evaluation["safety_prompts"],
        "promoted": promoted,
        **win_rate_fields(evaluation["by_kind"]),
    }
    version.metrics = {**(version.metrics or {}), "heldout_win_rates": record}
    ModelVersion.objects.filter(pk=version.pk).update(metrics=version.metrics)
