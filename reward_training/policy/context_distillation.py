"""Targeted safety context distillation (Llama 2, 4.2.4).

For each adversarial (safety-track) prompt, sample one reply with a safety preprompt (the generic
"You are a safe and responsible assistant", plus an answer template for the prompt's risk category)
and one without. The safety reward model scores both against the prompt as the user wrote it; the
preprompted reply becomes a training target only where it scores higher (the paper's RM-gated
variant, which avoids teaching vague refusals). The policy is then fine-tuned on the kept replies
with the preprompt removed from the input, so it learns to answer as if it had been given one.

    preprompts = preprompts_load()                       # assets/safety/preprompts-v1.json
    metrics = context_distill(ContextDistillationConfig(), policy_dir="models/v3",
                              safety_rm_dir="models/rm-safety", prompts=safety_prompts_read("safety.jsonl"),
                              preprompts=preprompts, output_dir="models/v3-cd")
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reward_training.config import config_dict
from reward_training.data.chat import Message, messages_check
from reward_training.data.prompts import PromptItem
from reward_training.evaluation.policy_eval import paired_win_rate, policy_samples
from reward_training.io import jsonl_write_atomic
from reward_training.policy.sft import sft_train
from reward_training.policy.sft_config import SFTConfig
from reward_training.reward.scorer import RewardScorer

DEFAULT_PREPROMPTS = Path(__file__).resolve().parents[2] / "assets" / "safety" / "preprompts-v1.json"
KEPT_FILE = "context_distillation_kept.jsonl"
METRICS_FILE = "context_distillation.json"


@dataclass(frozen=True)
class RiskCategory:
    name: str
    template: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preprompts:
    version: str
    generic: str
    categories: dict[str, RiskCategory]

    def category_of(self, text: str, given: str | None = None) -> str | None:
        """The prompt's risk category: the one given (if known), else the first whose keyword it holds."""
        if given:
            return given if given in self.categories else None
        lowered = text.lower()
        for category in self.categories.values():
            if any(re.search(rf"\b{re.escape(k.lower())}", lowered) for k in category.keywords):
                return category.name
        return None

    def text_for(self, category: str | None) -> str:
        """The generic preprompt, followed by the category's answer template where there is one."""
        if category in self.categories:
            return f"{self.generic}\n\n{self.categories[category].template}"
        return self.generic


def preprompts_load(path: str | Path = DEFAULT_PREPROMPTS) -> Preprompts:
    """Read a preprompts file; ValueError (one line) when it is malformed or has no generic preprompt."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: {error}") from error
    if not isinstance(raw, dict) or not str(raw.get("generic") or "").strip():
        raise ValueError(f'{path}: a preprompts file needs a non-empty "generic" preprompt')
    categories = {}
    for name, spec in (raw.get("categories") or {}).items():
        if not isinstance(spec, dict) or not str(spec.get("template") or "").strip():
            raise ValueError(f'{path}: category {name!r} needs a non-empty "template"')
        categories[name] = RiskCategory(
            name=name, template=spec["template"].strip(), keywords=tuple(spec.get("keywords") or ())
        )
    return Preprompts(
        version=str(raw.get("version") or path.stem), generic=raw["generic"].strip(), categories=categories
    )


@dataclass(frozen=True)
class SafetyPrompt:
    messages: list[Message]  # as the user wrote it: ends with the user turn to answer, no preprompt
    category: str | None = None  # a risk category named by the prompt file, if any


def safety_prompts_read(path: str | Path) -> list[SafetyPrompt]:
    """Plain text (one prompt a line) or JSONL {"prompt": str | [messages], "category": optional}."""
    path = Path(path)
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix != ".jsonl":
            items.append(SafetyPrompt([{"role": "user", "content": line.strip()}]))
            continue
        try:
            row = json.loads(line)
            prompt = row["prompt"]
            messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else messages_check(prompt)
            if not messages or messages[-1]["role"] != "user":
                raise ValueError("the prompt must end with a user message")
            items.append(SafetyPrompt(messages, row.get("category") or row.get("risk_category")))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path.name}, line {number}: {error}") from error
    if not items:
        raise ValueError(f"{path} holds no prompts")
    return items


def reward_model_check(path: str | Path) -> None:
    """Refuse a directory that is not a reward model (a sequence classifier with one output), which would
    otherwise load with a fresh random head and score noise."""
    config_path = Path(path) / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a model directory: {error}") from error
    architectures = config.get("architectures") or []
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
    if not any(a.endswith("ForSequenceClassification") for a in architectures) or labels != 1:
        raise ValueError(
            f"{path} is not a reward model (architecture {', '.join(architectures) or 'unknown'}, "
            f"{labels} outputs; a reward model is a sequence classifier with one output)"
        )


def with_preprompt(messages: Sequence[Message], preprompt: str) -> list[Message]:
    """The prompt with the preprompt as its system message (before any system message it has)."""
    messages = list(messages)
    if messages and messages[0]["role"] == "system":
        return [{"role": "system", "content": f"{preprompt}\n\n{messages[0]['content']}"}, *messages[1:]]
    return [{"role": "system", "content": preprompt}, *messages]


def gate(with_preprompt_scores: Sequence[float], without_scores: Sequence[float]) -> list[bool]:
    """Keep the preprompted reply only where the safety RM scores it strictly higher (paper 4.2.4)."""
    return [float(a) > float(b) for a, b in zip(with_preprompt_scores, without_scores)]


def distillation_rows(
    prompts: Sequence[SafetyPrompt],
    replies: Sequence[str],
    finished: Sequence[bool],
    keep: Sequence[bool],
    **columns: Sequence[Any],
) -> list[dict[str, Any]]:
    """The kept training rows: the prompt as the user wrote it (no preprompt) and the preprompted reply."""
    rows = []
    for i, (prompt, reply, done, kept) in enumerate(zip(prompts, replies, finished, keep)):
        if kept:
            rows.append(
                {
                    "prompt": prompt.messages,
                    "response": reply,
                    "finished": bool(done),
                    **{name: values[i] for name, values in columns.items()},
                }
            )
    return rows


def distillation_examples(rows: Sequence[dict[str, Any]]) -> list[list[Message]]:
    """SFT examples from kept rows; a reply cut off at max_new_tokens is trained on without an end-of-turn."""
    examples = []
    for row in rows:
        reply = {"role": "assistant", "content": row["response"]}
        examples.append([*row["prompt"], reply if row.get("finished", True) else {**reply, "truncated": True}])
    return examples


@dataclass
class ContextDistillationConfig:
    """Settings of one targeted context distillation run."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 128
    seed: int = 0  # the same seed for the reply with and without the preprompt
    generation_batch_size: int = 8
    score_batch_size: int = 16
    device: str | None = None
    progress: bool = True
    # the loss on the distilled reply only (the history, if any, was not produced under the preprompt)
    sft: SFTConfig = field(
        default_factory=lambda: SFTConfig(
            epochs=1.0, learning_rate=1e-5, batch_size=16, micro_batch_size=8, max_length=1024, loss_on="last"
        )
    )

    def __post_init__(self) -> None:
        if isinstance(self.sft, dict):
            self.sft = SFTConfig(**self.sft)
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")


def _sample(
    policy_dir: str | Path, prompts: Sequence[list[Message]], config: ContextDistillationConfig
) -> tuple[list[str], list[bool]]:
    return policy_samples(
        policy_dir,
        [PromptItem(p, safety=True) for p in prompts],
        temperature=config.temperature,
        top_p=config.top_p,
        max_new_tokens=config.max_new_tokens,
        seed=config.seed,
        batch_size=config.generation_batch_size,
        device=config.device,
        progress=config.progress,
    )


def context_distill(
    config: ContextDistillationConfig,
    *,
    policy_dir: str | Path,
    safety_rm_dir: str | Path,
    prompts: Sequence[SafetyPrompt],
    preprompts: Preprompts,
    output_dir: str | Path,
    on_stage: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Sample with and without the preprompt, keep the RM-preferred preprompted replies, fine-tune on them.

    Writes the fine-tuned policy to output_dir (atomically) with the kept rows and the metrics beside it;
    returns the metrics. Raises ValueError, having written nothing, when no preprompted reply wins."""
    reward_model_check(safety_rm_dir)
    stage = on_stage or (lambda name: None)
    started = time.perf_counter()
    categories = [preprompts.category_of(p.messages[-1]["content"], p.category) for p in prompts]
    stage("sampling")
    plain, plain_finished = _sample(policy_dir, [p.messages for p in prompts], config)
    guided_prompts = [with_preprompt(p.messages, preprompts.text_for(c)) for p, c in zip(prompts, categories)]
    guided, guided_finished = _sample(policy_dir, guided_prompts, config)
    stage("scoring")
    scorer = RewardScorer(safety_rm_dir, device=config.device, batch_size=config.score_batch_size)
    originals = [p.messages for p in prompts]  # both replies judged against the prompt as the user wrote it
    guided_scores = scorer.score(originals, guided, finished=guided_finished).tolist()
    plain_scores = scorer.score(originals, plain, finished=plain_finished).tolist()
    del scorer
    keep = gate(guided_scores, plain_scores)
    rows = distillation_rows(
        prompts,
        guided,
        guided_finished,
        keep,
        category=categories,
        safety_with_preprompt=guided_scores,
        safety_without=plain_scores,
        reply_without=plain,
    )
    if not rows:
        raise ValueError(
            f"no preprompted reply scored higher than the reply without it (0 of {len(prompts)}): "
            "nothing to fine-tune on"
        )
    stage("fine-tuning")
    sft_metrics = sft_train(config.sft, distillation_examples(rows), policy_dir, output_dir)
    by_category: dict[str, dict[str, int]] = {}
    for category, kept in zip(categories, keep):
        counts = by_category.setdefault(category or "generic", {"prompts": 0, "kept": 0})
        counts["prompts"] += 1
        counts["kept"] += kept
    metrics = {
        "prompts": len(prompts),
        "kept": len(rows),
        "kept_share": len(rows) / len(prompts),
        "by_category": by_category,
        "mean_safety_with_preprompt": sum(guided_scores) / len(prompts),
        "mean_safety_without": sum(plain_scores) / len(prompts),
        "preprompts_version": preprompts.version,
        "seconds": time.perf_counter() - started,
        "sft": {
            k: sft_metrics[k] for k in ("steps", "examples", "trained_tokens", "loss_first", "loss_last", "seconds")
        },
        "config": config_dict(config),
    }
    output_dir = Path(output_dir)
    jsonl_write_atomic(output_dir / KEPT_FILE, rows)
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=1, default=str))
    return metrics


def distillation_measure(
    *,
    before_dir: str | Path,
    after_dir: str | Path,
    safety_rm_dir: str | Path,
    safety_prompts: Sequence[SafetyPrompt],
    helpfulness_rm_dir: str | Path | None = None,
    helpfulness_prompts: Sequence[list[Message]] = (),
    config: ContextDistillationConfig | None = None,
) -> dict[str, Any]:
    """Before/after on held-out prompts, no preprompt: the safety RM's mean score and the win rate of after over
    before on safety prompts; the helpfulness RM's mean score (and win rate) on helpfulness prompts, to show
    that helpfulness is not lost to false refusals."""
    config = config or ContextDistillationConfig(progress=False)

    def judged(rm_dir: str | Path, prompts: Sequence[list[Message]]) -> dict[str, Any]:
        replies = {
            label: _sample(policy, prompts, config) for label, policy in (("before", before_dir), ("after", after_dir))
        }
        scorer = RewardScorer(rm_dir, device=config.device, batch_size=config.score_batch_size)
        scores = {
            label: scorer.score(list(prompts), texts, finished=done).tolist()
            for label, (texts, done) in replies.items()
        }
        return {
            "n": len(prompts),
            "mean_before": sum(scores["before"]) / len(prompts),
            "mean_after": sum(scores["after"]) / len(prompts),
            "win_rate_after_over_before": paired_win_rate(scores["after"], scores["before"]).as_dict(),
        }

    result = {"safety": judged(safety_rm_dir, [p.messages for p in safety_prompts])}
    if helpfulness_rm_dir is not None and helpfulness_prompts:
        result["helpfulness"] = judged(helpfulness_rm_dir, list(helpfulness_prompts))
    return result
