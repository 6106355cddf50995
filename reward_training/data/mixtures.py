"""The paper's reward-model data mixtures (Llama 2, 3.2.2), with a manifest of the pairs drawn.

- Helpfulness RM: all own helpfulness data, plus an equal amount (`helpfulness_extra_ratio` x its
  size) drawn uniformly from the union of own safety data and open-source data.
- Safety RM: all own safety data and open-source harmlessness data, mixed 90/10 with helpfulness
  data (own and open-source); `safety_helpfulness_fraction` is the helpfulness share of the result.

"Own" data has source "platform"; everything else is open-source. An open-source pair counts as
harmlessness data when its track is "safety" (set it on import, e.g. for Anthropic Harmless), and
as helpfulness data otherwise.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reward_training.data.preferences import PreferencePair

RECIPES = ("none", "helpfulness", "safety")
MANIFEST_NAME = "data_manifest.json"


@dataclass
class Mixture:
    pairs: list[PreferencePair]
    manifest: dict[str, Any] = field(default_factory=dict)


def _own(pair: PreferencePair) -> bool:
    return pair.source == "platform"


def _draw(pool: list[PreferencePair], n: int, rng: random.Random) -> list[PreferencePair]:
    """n pairs drawn uniformly without replacement (all of them where the pool is smaller)."""
    if n >= len(pool):
        return list(pool)
    return rng.sample(pool, n)


def mixture_build(
    pairs: list[PreferencePair],
    recipe: str,
    *,
    helpfulness_extra_ratio: float = 1.0,
    safety_helpfulness_fraction: float = 0.1,
    seed: int = 0,
) -> Mixture:
    """The training set of one recipe ("none": every pair as given); draws are seeded by `seed`."""
    rng = random.Random(seed)
    if recipe == "none":
        parts = {"all": list(pairs)}
        drawn: dict[str, list[PreferencePair]] = {}
    elif recipe == "helpfulness":
        main = [p for p in pairs if _own(p) and p.track == "helpfulness"]
        pool = [p for p in pairs if (_own(p) and p.track == "safety") or not _own(p)]
        if not main:
            raise ValueError(
                "the helpfulness recipe needs own helpfulness data (source platform, track helpfulness); "
                "train on every pair as given with the recipe none"
            )
        extra = _draw(pool, round(helpfulness_extra_ratio * len(main)), rng)
        parts = {"helpfulness": main}
        drawn = {"safety_and_open_source": extra}
    elif recipe == "safety":
        main = [p for p in pairs if p.track == "safety"]
        pool = [p for p in pairs if p.track != "safety"]
        if not main:
            raise ValueError(
                "the safety recipe needs safety or harmlessness data (track safety); "
                "train on every pair as given with the recipe none"
            )
        fraction = safety_helpfulness_fraction
        n_help = round(len(main) * fraction / (1.0 - fraction)) if fraction < 1.0 else len(pool)
        parts = {"safety_and_harmless": main}
        drawn = {"helpfulness": _draw(pool, n_help, rng)}
    else:
        raise ValueError(f"unknown mixture recipe {recipe!r}; expected one of {', '.join(RECIPES)}")
    chosen = [p for group in (*parts.values(), *drawn.values()) for p in group]  # the trainer shuffles
    manifest = {
        "recipe": recipe,
        "seed": seed,
        "helpfulness_extra_ratio": helpfulness_extra_ratio,
        "safety_helpfulness_fraction": safety_helpfulness_fraction,
        "n_available": len(pairs),
        "n_pairs": len(chosen),
        "counts": {name: len(group) for name, group in {**parts, **drawn}.items()},
        "by_source": _count(chosen, lambda p: p.source),
        "by_track": _count(chosen, lambda p: p.track or "unknown"),
        "pairs": [{"id": p.pair_id, "hash": p.content_hash, "source": p.source} for p in chosen],
    }
    return Mixture(pairs=chosen, manifest=manifest)


def _count(pairs: list[PreferencePair], key) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pair in pairs:
        counts[key(pair)] = counts.get(key(pair), 0) + 1
    return dict(sorted(counts.items()))


def manifest_write(directory: str | Path, manifest: dict[str, Any], *, extra: dict[str, Any] | None = None) -> Path:
    """Write the manifest (plus `extra`, e.g. data files and dropped pairs) as data_manifest.json."""
    path = Path(directory) / MANIFEST_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**manifest, **(extra or {})}, indent=1))
    return path
