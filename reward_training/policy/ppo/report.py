"""PPO's per-iteration metrics on disk: a JSONL file and a PNG of the curves."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reward_training.io import jsonl_write_atomic

METRICS_FILE = "ppo_metrics.jsonl"
CURVES_FILE = "ppo_curves.png"
logger = logging.getLogger(__name__)

# (metric key, panel title); "reward" also draws the held-out reward when there is one
PANELS = [
    ("reward", "reward Rc"),
    ("kl", "KL(π ‖ π0) per token"),
    ("clip_fraction", "policy clip fraction"),
    ("value_loss", "value loss"),
    ("response_length", "response length (tokens)"),
    ("entropy", "entropy per token"),
]


def metrics_write(directory: str | Path, history: list[dict[str, Any]]) -> Path:
    """Write one JSON object per iteration (replacing the file atomically)."""
    path = Path(directory) / METRICS_FILE
    jsonl_write_atomic(path, history)
    return path


def metrics_read(directory: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (Path(directory) / METRICS_FILE).read_text().splitlines() if line.strip()]


def curves_plot(
    history: list[dict[str, Any]], path: str | Path, title: str = "PPO", initial_heldout: float | None = None
) -> Path | None:
    """A 2x3 grid: reward (and held-out reward, from iteration 0), KL, clip fraction, value loss,
    response length, entropy. Without matplotlib (a bare GPU machine) no PNG is drawn and None is
    returned: the same figures are in the metrics JSONL."""
    try:
        import matplotlib
    except ImportError:
        logger.warning("matplotlib is not installed: %s not drawn (the metrics are in %s)", path, METRICS_FILE)
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    x = [h["iteration"] for h in history]
    for ax, (key, label) in zip(axes.flat, PANELS):
        ax.plot(x, [h.get(key) for h in history], label="train")
        if key == "reward":
            held = [(0, initial_heldout)] if initial_heldout is not None else []
            held += [(h["iteration"], h["heldout_reward"]) for h in history if h.get("heldout_reward") is not None]
            if held:
                ax.plot(*zip(*held), marker="o", label="held-out")
                ax.legend()
        ax.set_title(label)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    # tight_layout costs seconds on a busy CPU
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.09, top=0.9, wspace=0.25, hspace=0.45)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
