"""Server-rendered charts (matplotlib, Agg canvas): each takes the figures a selector produced and returns PNG bytes.

matplotlib is imported on first use (it costs seconds to import), and only its object API is used
(no pyplot state), so charts draw safely from several server threads at once.
"""

from __future__ import annotations

import io

from annotation.models import Strength

STRENGTH_LABELS = {s: s.removesuffix("_better") for s in Strength.values}  # short axis labels: "significantly" …
BIN_LABELS = {
    "chosen_safe_other_unsafe": "chosen safe,\nother unsafe",
    "both_safe": "both safe",
    "both_unsafe": "both unsafe",
}


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    figure.tight_layout()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _figure(width: float = 5.2, height: float = 3.0):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=90)
    axes = figure.add_subplot()
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def _bars(axes, labels, series: dict[str, list[float | None]]):
    width = 0.8 / max(1, len(series))
    for offset, (name, values) in enumerate(series.items()):
        xs = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axes.bar(xs, [v or 0 for v in values], width=width, label=name)
    axes.set_xticks(range(len(labels)), labels)
    if len(series) > 1:
        axes.legend(frameon=False, fontsize=8)


def strength_chart(stats: dict) -> bytes:
    """The strength distribution (shares), this batch beside the previous one."""
    figure, axes = _figure()
    series = {stats["batch"]: [stats["strength_shares"][s] for s in STRENGTH_LABELS]}
    if stats.get("previous"):
        series[stats["previous"]["batch"]] = [stats["previous"]["strength_shares"][s] for s in STRENGTH_LABELS]
    _bars(axes, list(STRENGTH_LABELS.values()), series)
    axes.set_ylabel("share of comparisons")
    axes.set_title("Preference strength")
    return _png(figure)


def safety_bins_chart(stats: dict) -> bytes:
    """The safety-bin mix next to the paper's 18 / 47 / 35 %."""
    figure, axes = _figure()
    series = {
        stats["batch"]: [stats["safety_bin_shares"][b] for b in BIN_LABELS],
        "Llama 2 paper": [stats["paper_safety_bin_shares"][b] for b in BIN_LABELS],
    }
    if stats.get("previous"):
        series[stats["previous"]["batch"]] = [stats["previous"]["safety_bin_shares"][b] for b in BIN_LABELS]
    _bars(axes, list(BIN_LABELS.values()), series)
    axes.set_ylabel("share of binned pairs")
    axes.set_title("Safety bins")
    return _png(figure)


def annotators_chart(stats: dict) -> bytes:
    """Comparisons per annotator (progress), with the batch target split evenly as a guide."""
    annotators = stats["annotators"][:20]
    figure, axes = _figure(5.2, max(2.2, 0.32 * len(annotators) + 1))
    names = [a["username"] or a["annotator"] for a in annotators]
    axes.barh(names, [a["comparisons"] for a in annotators], color="#4c72b0")
    axes.invert_yaxis()
    axes.set_xlabel("comparisons")
    axes.set_title(f"Progress: {stats['comparisons']} / {stats['target_comparisons']}")
    return _png(figure)


def bias_chart(stats: dict) -> bytes:
    """Tie rate, A/B position bias (share of A) and length bias (share of longer wins), vs the previous batch."""
    names = ["tie rate", "chose A", "longer wins"]

    def values(s):
        return [s["tie_rate"], s["position_bias"]["a_rate"], s["length_bias"]["longer_wins_rate"]]

    figure, axes = _figure()
    series = {stats["batch"]: values(stats)}
    if stats.get("previous"):
        series[stats["previous"]["batch"]] = values(stats["previous"])
    _bars(axes, names, series)
    axes.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    axes.set_ylim(0, 1)
    axes.set_title("Ties and biases")
    return _png(figure)


def drift_chart(stats: dict) -> bytes:
    """An annotator's A-rate, tie rate and median time across consecutive slices of their work."""
    drift = stats["drift"]
    figure, axes = _figure()
    from matplotlib.ticker import MaxNLocator

    xs = list(range(1, len(drift) + 1))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.plot(xs, [d["a_rate"] for d in drift], marker="o", label="chose A")
    axes.plot(xs, [d["tie_rate"] for d in drift], marker="s", label="tie rate")
    axes.set_ylim(0, 1)
    axes.set_xlabel("slice of their comparisons (oldest first)")
    axes.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    seconds = axes.twinx()
    seconds.plot(xs, [(d["median_time_ms"] or 0) / 1000 for d in drift], color="#c44e52", marker="^", label="median s")
    seconds.set_ylabel("median seconds")
    lines = axes.get_legend_handles_labels()[0] + seconds.get_legend_handles_labels()[0]
    labels = axes.get_legend_handles_labels()[1] + seconds.get_legend_handles_labels()[1]
    axes.legend(lines, labels, frameon=False, fontsize=8, loc="upper left")
    axes.set_title(f"Drift: {stats['username']}")
    return _png(figure)


def rm_accuracy_chart(rows: list[dict]) -> bytes:
    """Reward models' accuracy on a batch by preference strength (paper Table 8); rows from
    selectors.jobs.rm_accuracy_rows, strengths in STRENGTH_LABELS order."""
    figure, axes = _figure()
    width = 0.8 / max(1, len(rows))
    for offset, row in enumerate(rows):
        xs = [i + (offset - (len(rows) - 1) / 2) * width for i in range(len(STRENGTH_LABELS))]
        ys = [v if v is not None else 0 for v in row["by_strength"]]
        overall = f"{row['accuracy']:.2f}" if row["accuracy"] is not None else "–"
        axes.bar(xs, ys, width=width, label=f"{row['track']} RM ({row['model']}): {overall}")
    axes.set_xticks(range(len(STRENGTH_LABELS)), list(STRENGTH_LABELS.values()))
    axes.axhline(0.5, color="grey", linewidth=0.8, linestyle="--")
    axes.set_ylim(0, 1)
    axes.set_ylabel("pairwise accuracy")
    axes.set_title("Reward models on this batch")
    if rows:
        axes.legend(frameon=False, fontsize=8, loc="lower left")
    return _png(figure)


CHARTS = {
    "strength": strength_chart,
    "safety-bins": safety_bins_chart,
    "annotators": annotators_chart,
    "biases": bias_chart,
}


def training_curves_chart(curves: dict[str, list[tuple[int, float]]]) -> bytes:
    """One small panel per logged metric (a model version's training run), against the step."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = list(curves) or ["no metrics logged"]
    columns = 2 if len(names) > 1 else 1
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(5.2 * columns / 1.4, 2.2 * rows), dpi=90)
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, i + 1)
        axes.spines[["top", "right"]].set_visible(False)
        points = curves.get(name, [])
        if points:
            axes.plot(
                [s for s, _ in points],
                [v for _, v in points],
                color="#4c72b0",
                marker="o" if len(points) < 20 else None,
                markersize=3,
            )
        axes.set_title(name.replace("_", " "), fontsize=9)
        axes.tick_params(labelsize=7)
        axes.set_xlabel("step", fontsize=7)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(figure)


KIND_STYLES = {"all": ("#4c72b0", "o"), "safety": ("#c44e52", "s"), "helpfulness": ("#55a868", "^")}


def win_rate_curve_chart(points: list[dict]) -> bytes:
    """Win rate over the parent across policy versions, with 95% intervals (paper Fig. 11 style): one panel
    per judge, one line per prompt kind, 50% (no better than the parent) dashed."""
    from matplotlib.figure import Figure

    judges = [j for j in ("rm", "oracle") if any(j in p["judges"] for p in points)] or ["rm"]
    figure = Figure(figsize=(5.2 * len(judges) / 1.3, 3.2), dpi=90)
    labels = [p["policy"] for p in points]
    for column, judge in enumerate(judges):
        axes = figure.add_subplot(1, len(judges), column + 1)
        axes.spines[["top", "right"]].set_visible(False)
        axes.axhline(0.5, color="#888888", linestyle="--", linewidth=1)
        for dodge, (kind, (color, marker)) in enumerate(KIND_STYLES.items()):
            xs, ys, low, high = [], [], [], []
            for x, point in enumerate(points):
                rate, ci = point["judges"].get(judge, {}).get(kind, (None, None))
                if rate is None:
                    continue
                xs.append(x + (dodge - 1) * 0.06)  # side by side, so that the intervals do not hide each other
                ys.append(rate)
                low.append(rate - ci[0] if ci else 0)
                high.append(ci[1] - rate if ci else 0)
            if xs:
                axes.errorbar(xs, ys, yerr=[low, high], color=color, marker=marker, capsize=3, label=kind)
        axes.set_ylim(0, 1)
        axes.set_xlim(-0.5, len(labels) - 0.5)
        axes.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=7)
        axes.set_ylabel("win rate over its parent")
        axes.set_title(f"judged by the {'reward models' if judge == 'rm' else judge}", fontsize=9)
        axes.legend(frameon=False, fontsize=7)
    return _png(figure)
