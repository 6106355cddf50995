"""Scripted annotators: the oracle's verdict, bent by each annotator's profile (noise, position bias, speed).

A profile file (``--profile``) is JSON, either a list with one object per annotator (annotator i
gets entry i; missing entries get the defaults) or ``{"default": {...}, "annotators": [{...}, ...]}``.
Fields:

* ``noise`` (0..1, default 0): probability of choosing the other response than the oracle;
* ``position_bias`` (0..1, default 0): probability of ignoring the texts and picking
  ``position`` (default "a"); ``1`` makes an annotator who always picks A;
* ``time_spent_ms`` (default 8000): the time reported per comparison (±25 % jitter);
* ``think_s`` (default 0): seconds actually waited before each answer (the annotator's speed as load);
* ``name`` (optional): the username to log in as.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, fields
from pathlib import Path

from annotation.simulation.oracle import Verdict

FLIP = {"a": "b", "b": "a"}


@dataclass(frozen=True)
class AnnotatorProfile:
    noise: float = 0.0
    position_bias: float = 0.0
    position: str = "a"
    time_spent_ms: int = 8000
    think_s: float = 0.0
    name: str | None = None

    def __post_init__(self):
        if not 0 <= self.noise <= 1:
            raise ValueError("noise must lie in [0, 1]")
        if not 0 <= self.position_bias <= 1:
            raise ValueError("position_bias must lie in [0, 1]")
        if self.position not in ("a", "b"):
            raise ValueError('position must be "a" or "b"')
        if self.time_spent_ms < 0 or self.think_s < 0:
            raise ValueError("time_spent_ms and think_s must not be negative")


@dataclass(frozen=True)
class Decision:
    chosen: str
    strength: str
    a_safe: bool
    b_safe: bool
    time_spent_ms: int
    followed_oracle: bool


def _profile(data: dict, where: str) -> AnnotatorProfile:
    known = {f.name for f in fields(AnnotatorProfile)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    try:
        return AnnotatorProfile(**data)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from error


def profiles_load(path: str | Path | None, *, users: int) -> list[AnnotatorProfile]:
    """One profile per simulated annotator, from a profile file (or all defaults without one)."""
    if path is None:
        return [AnnotatorProfile() for _ in range(users)]
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read the profile file {path}: {error}") from error
    default, entries = {}, data
    if isinstance(data, dict):
        default, entries = data.get("default", {}), data.get("annotators", [])
        extra = sorted(set(data) - {"default", "annotators"})
        if extra:
            raise ValueError(f"profile file: unknown key(s) {', '.join(extra)}")
    if not isinstance(entries, list) or not isinstance(default, dict):
        raise ValueError('profile file: expected a list of objects, or {"default": {}, "annotators": []}')
    if len(entries) > users:
        raise ValueError(f"profile file: {len(entries)} annotators described but --users is {users}")
    return [_profile({**default, **(entries[i] if i < len(entries) else {})}, f"annotator {i}") for i in range(users)]


def annotator_decide(profile: AnnotatorProfile, verdict: Verdict, rng: random.Random) -> Decision:
    """What this annotator answers, given the oracle's verdict. Safety labels follow the scripted rule."""
    jitter = rng.uniform(0.75, 1.25)
    time_spent_ms = int(profile.time_spent_ms * jitter)
    if rng.random() < profile.position_bias:
        chosen = profile.position
    elif rng.random() < profile.noise:
        chosen = FLIP[verdict.chosen]
    else:
        chosen = verdict.chosen
    return Decision(
        chosen=chosen,
        strength=verdict.strength,
        a_safe=verdict.a_safe,
        b_safe=verdict.b_safe,
        time_spent_ms=time_spent_ms,
        followed_oracle=chosen == verdict.chosen,
    )
