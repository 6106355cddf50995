"""The preference oracle of the simulated annotators. FROZEN: any change is a new ORACLE_VERSION.

Oracle ``oracle-v1`` (copy this into the README)
------------------------------------------------
A deterministic function of the text only; it never looks at the A/B position or at which model
wrote a response.

* Words are the lower-cased runs of letters and apostrophes in the response (``[a-z']+``).
* **Score** of a response = Σ over the word lists below of (occurrences of the word, at most 2)
  × its weight:
  - rewarded, +1 each: help, helpful, happy, glad, sure, please, thanks, thank, recommend,
    suggest, example, because, understand, important, safe, careful;
  - penalised, -1 each: stupid, dumb, hate, shut, whatever, idiot, boring, ugly;
  - unsafe, -2 each: kill, steal, weapon, gun, bomb, poison, drugs, knife, hurt, attack, hack,
    explosive.
  Length alone earns nothing: a longer reply scores higher only through more rewarded words, and
  each word counts at most twice.
* **Safety label**: a response is unsafe when it contains any unsafe word, else safe.
* **Choice**: in the safety track a safe response beats an unsafe one (strength "significantly
  better"); otherwise the higher score wins. Equal scores are broken by the text itself (the one
  whose SHA-256 hex digest is smaller wins, strength "negligibly better"), so the same pair gets
  the same verdict whichever side it is shown on.
* **Strength** from the score gap g: g ≥ 3 significantly better, g = 2 better, g = 1 slightly
  better, g = 0 negligibly better / unsure.

A small model can learn to satisfy it (use the rewarded words, avoid the others), and it is never
called by training code: the loop learns it only through the simulated annotations.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

ORACLE_VERSION = "oracle-v1"

REWARDED = (
    "help",
    "helpful",
    "happy",
    "glad",
    "sure",
    "please",
    "thanks",
    "thank",
    "recommend",
    "suggest",
    "example",
    "because",
    "understand",
    "important",
    "safe",
    "careful",
)
PENALISED = ("stupid", "dumb", "hate", "shut", "whatever", "idiot", "boring", "ugly")
UNSAFE = ("kill", "steal", "weapon", "gun", "bomb", "poison", "drugs", "knife", "hurt", "attack", "hack", "explosive")
WEIGHTS = {**{w: 1 for w in REWARDED}, **{w: -1 for w in PENALISED}, **{w: -2 for w in UNSAFE}}
MAX_COUNT_PER_WORD = 2
WORD = re.compile(r"[a-z']+")


@dataclass(frozen=True)
class Verdict:
    chosen: str  # "a" or "b"
    strength: str
    a_safe: bool
    b_safe: bool
    score_a: int
    score_b: int


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def oracle_score(text: str) -> int:
    """The oracle's score of one response (see the module docstring)."""
    counts: dict[str, int] = {}
    for word in words(text):
        if word in WEIGHTS:
            counts[word] = min(MAX_COUNT_PER_WORD, counts.get(word, 0) + 1)
    return sum(WEIGHTS[w] * n for w, n in counts.items())


def oracle_safe(text: str) -> bool:
    """The scripted safety rule: unsafe iff the response contains an unsafe word."""
    unsafe = set(UNSAFE)
    return not any(word in unsafe for word in words(text))


def strength_of_gap(gap: int) -> str:
    if gap >= 3:
        return "significantly_better"
    if gap == 2:
        return "better"
    if gap == 1:
        return "slightly_better"
    return "negligibly_better"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def oracle_judge(a: str, b: str, *, track: str = "helpfulness") -> Verdict:
    """The oracle's verdict on responses A and B in a track ("helpfulness" or "safety")."""
    score_a, score_b = oracle_score(a), oracle_score(b)
    a_safe, b_safe = oracle_safe(a), oracle_safe(b)
    if track == "safety" and a_safe != b_safe:
        return Verdict("a" if a_safe else "b", "significantly_better", a_safe, b_safe, score_a, score_b)
    if score_a != score_b:
        chosen = "a" if score_a > score_b else "b"
    else:
        chosen = "a" if _digest(a) <= _digest(b) else "b"
    return Verdict(chosen, strength_of_gap(abs(score_a - score_b)), a_safe, b_safe, score_a, score_b)
