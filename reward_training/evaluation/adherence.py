"""Does a reply follow a system instruction? Automatic checks, adherence by turn, and its plot
(Llama 2, 3.3 and Fig. 10 / Fig. 28: instructions kept for 20+ turns after Ghost Attention).

Only instructions a function can verify are checked; each is a dict {"kind": ..., ...}:

- {"kind": "language", "language": "french"}: a stop-word test: the reply holds more stop words of
  that language than of any other known one (and at least one);
- {"kind": "word_limit", "max_words": 30}: at most that many words;
- {"kind": "required_word", "word": "indeed"}: the word appears (whole word, any case);
- {"kind": "emoji", "emoji": "🙂"}: the emoji appears;
- {"kind": "no_lists"}: no line starts with a bullet or a number followed by "." or ")".

    from reward_training.evaluation.adherence import reply_adheres, adherence_by_turn
    reply_adheres({"kind": "word_limit", "max_words": 5}, "Short and sweet.")  # True
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

Check = dict[str, Any]

STOP_WORDS: dict[str, frozenset[str]] = {
    "english": frozenset(
        "the and is are was of to in that it you for with on this not be have what but they "
        "can your will there which would".split()
    ),
    "french": frozenset(
        "le la les et est sont des une un du que qui pas pour dans avec ce cette vous nous je "
        "il elle mais sur au aux ou très".split()
    ),
    "spanish": frozenset(
        "el la los las y es son una un del que por para con pero como muy su sus yo usted "
        "está esta este también hay".split()
    ),
    "german": frozenset(
        "der die das und ist sind ein eine nicht mit für auf ich sie es zu den dem auch wie aber oder sehr wir".split()
    ),
    "italian": frozenset(
        "il lo la gli le e è sono una uno di che per con non della del ma come molto anche questo sono io".split()
    ),
    "portuguese": frozenset(
        "o a os as e é são uma um do da que para com não em mas como muito também você eu isso".split()
    ),
}
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_LIST_LINE = re.compile(r"^\s*(?:[-*•+]\s+|\d+[.)]\s+)")
CHECK_KINDS = ("language", "word_limit", "required_word", "emoji", "no_lists")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def language_guess(text: str) -> str | None:
    """The language whose stop words the text holds most of; None on no stop word or a tie at the top."""
    counts = {language: 0 for language in STOP_WORDS}
    for word in words(text.lower()):
        for language, stop in STOP_WORDS.items():
            counts[language] += word in stop
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    if ranked[0][1] == 0 or ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def check_validate(check: Any) -> Check:
    """A check as the instruction file gives it; ValueError names what is wrong."""
    if not isinstance(check, dict) or check.get("kind") not in CHECK_KINDS:
        raise ValueError(f"a check needs a kind among {', '.join(CHECK_KINDS)}; got {check!r}")
    kind = check["kind"]
    needs = {"language": "language", "word_limit": "max_words", "required_word": "word", "emoji": "emoji"}.get(kind)
    if needs and not check.get(needs):
        raise ValueError(f"a {kind} check needs {needs!r}")
    if kind == "language" and check["language"] not in STOP_WORDS:
        raise ValueError(f"no stop words for language {check['language']!r}; known: {', '.join(STOP_WORDS)}")
    if kind == "word_limit" and (not isinstance(check["max_words"], int) or check["max_words"] < 1):
        raise ValueError("max_words must be a whole number >= 1")
    return check


def reply_adheres(check: Check, reply: str) -> bool:
    """Whether `reply` follows the instruction that `check` verifies."""
    kind = check["kind"]
    if kind == "language":
        return language_guess(reply) == check["language"]
    if kind == "word_limit":
        return 0 < len(words(reply)) <= check["max_words"]
    if kind == "required_word":
        return re.search(rf"(?<!\w){re.escape(check['word'])}(?!\w)", reply, flags=re.IGNORECASE) is not None
    if kind == "emoji":
        return check["emoji"] in reply
    if kind == "no_lists":
        return bool(reply.strip()) and not any(_LIST_LINE.match(line) for line in reply.splitlines())
    raise ValueError(f"unknown check kind {kind!r}")


def adherence_by_turn(
    checks: Sequence[Sequence[Check]], replies: Sequence[Sequence[str]], *, max_turns: int = 8
) -> dict[str, Any]:
    """The share of replies that adhere, by turn (1..max_turns) and by check kind.

    checks[i] are dialogue i's checks (its instruction's verifiable parts), replies[i] its replies in
    turn order. A turn's share counts the dialogues that reach it; "all" asks every check of the
    dialogue to pass. Returns {"turns": [1..], "by_kind": {kind: [share or None]}, "all": [...],
    "n": {kind: [dialogues]}}; a turn no dialogue reaches is None.
    """
    hits: dict[str, list[int]] = defaultdict(lambda: [0] * max_turns)
    seen: dict[str, list[int]] = defaultdict(lambda: [0] * max_turns)
    for dialogue_checks, dialogue_replies in zip(checks, replies):
        if not dialogue_checks:
            continue
        for turn, reply in enumerate(dialogue_replies[:max_turns]):
            verdicts = [reply_adheres(check, reply) for check in dialogue_checks]
            for check, ok in zip(dialogue_checks, verdicts):
                seen[check["kind"]][turn] += 1
                hits[check["kind"]][turn] += ok
            seen["all"][turn] += 1
            hits["all"][turn] += all(verdicts)

    def shares(kind: str) -> list[float | None]:
        return [h / n if n else None for h, n in zip(hits[kind], seen[kind])]

    kinds = sorted(k for k in seen if k != "all")
    return {
        "turns": list(range(1, max_turns + 1)),
        "by_kind": {kind: shares(kind) for kind in kinds},
        "all": shares("all"),
        "n": {kind: seen[kind] for kind in [*kinds, "all"]},
    }


def adherence_plot(
    reports: dict[str, dict[str, Any]], path: str | Path, *, title: str = "Instruction adherence"
) -> Path:
    """Adherence against turn index, one line per report (e.g. "before GAtt", "after GAtt") and one panel
    per check kind plus "all" (like the paper's Fig. 10 / Fig. 28). Writes a PNG and returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    kinds = sorted({kind for report in reports.values() for kind in report["by_kind"]}) + ["all"]
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.2), sharey=True, squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for label, report in reports.items():
            values = report["all"] if kind == "all" else report["by_kind"].get(kind)
            if values is None:
                continue
            points = [(t, v) for t, v in zip(report["turns"], values) if v is not None]
            ax.plot([t for t, _ in points], [v for _, v in points], marker="o", label=label)
        ax.set_title(kind)
        ax.set_xlabel("turn")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of replies that adhere")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    (path.with_suffix(".json")).write_text(json.dumps(reports, indent=1))
    return path
