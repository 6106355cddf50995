"""Experiment tracking: the trainers' step metrics sent to TensorBoard, MLflow, W&B or trackio
through accelerate's trackers. This is the one seam between the trainers and a tracker.

    run = RunTracker("tensorboard", output_dir="models/rm-v1", config=config_dict(config))
    accelerator = Accelerator(log_with=run.trackers)   # trainers that have an Accelerator
    run.start(accelerator)                             # or run.start() without one (SFT)
    run.log({"loss": 0.7, "lr": 1e-5}, step=1)         # accelerator.log, on the main process
    run.finish()                                       # {"tracker": "tensorboard", "log_dir": "models/runs/rm-v1"}

TensorBoard is the offline default and the one installed with the project. Its events go to
<tracking_dir>/<run name>, by default <output_dir's parent>/runs/<output_dir's name>: outside
the model directory, which the policy trainers replace atomically, and one folder for
`tensorboard --logdir models/runs` to show every run side by side. MLflow, W&B and trackio are
optional: install the package, and configure it the usual way (MLFLOW_TRACKING_URI,
WANDB_PROJECT / WANDB_MODE=offline, ...).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

TRACKERS = ("tensorboard", "mlflow", "wandb", "trackio", "none")
DEFAULT_TRACKER = "tensorboard"
PROJECT = "rlhf-platform"  # the W&B / trackio project and MLflow experiment of every run
_PACKAGE = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb", "trackio": "trackio"}


def tracker_check(tracker: str) -> None:
    """Refuse an unknown tracker, or one whose package is not installed, in one line (ValueError)."""
    if tracker not in TRACKERS:
        raise ValueError(f"unknown tracker {tracker!r}; expected one of {', '.join(TRACKERS)}")
    package = _PACKAGE.get(tracker)
    if package and importlib.util.find_spec(package) is None:
        raise ValueError(
            f"the {tracker} tracker needs the {package} package: pip install {package} (or use tracker none)"
        )


def tracking_dir_default(output_dir: str | Path) -> Path:
    """Where a run's tracker writes when no tracking_dir is given: <parent>/runs (see the module text)."""
    return Path(output_dir).resolve().parent / "runs"


def _scalars(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a metrics record (nested dicts flattened as a/b), the only values logged."""
    flat: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_scalars(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


def _hparams(config: dict[str, Any]) -> dict[str, Any]:
    """The settings a tracker records as hyperparameters: the plain values (None and nested ones left out)."""
    return {k: v for k, v in config.items() if isinstance(v, (bool, int, float, str))}


class RunTracker:
    """One training run's tracker (or none): start, log step metrics, finish."""

    def __init__(
        self,
        tracker: str,
        *,
        output_dir: str | Path,
        config: dict[str, Any] | None = None,
        tracking_dir: str | Path | None = None,
        run_name: str | None = None,
    ) -> None:
        tracker_check(tracker)
        self.tracker = tracker
        self.run_name = run_name or Path(output_dir).name
        self.root = Path(tracking_dir) if tracking_dir else tracking_dir_default(output_dir)
        self.config = _hparams(config or {})
        self.trackers = self._build()
        self._accelerator: Any = None
        self._started = False

    def _build(self) -> list[Any]:
        if self.tracker == "none":
            return []
        from accelerate import tracking

        if self.tracker == "tensorboard":
            return [tracking.TensorBoardTracker(self.run_name, str(self.root))]
        if self.tracker == "mlflow":
            return [tracking.MLflowTracker(experiment_name=PROJECT, run_name=self.run_name)]
        if self.tracker == "wandb":
            return [tracking.WandBTracker(PROJECT, name=self.run_name)]
        return [tracking.TrackioTracker(PROJECT, name=self.run_name)]

    @property
    def log_dir(self) -> Path | None:
        """The folder that holds this run's events (TensorBoard only; the others keep their own store)."""
        return self.root / self.run_name if self.tracker == "tensorboard" else None

    def start(self, accelerator: Any = None, *, config: dict[str, Any] | None = None) -> None:
        """Begin the run; with an Accelerator built with log_with=self.trackers, through it. `config` replaces
        the one given at construction (a trainer that resolves settings after building its Accelerator)."""
        if config is not None:
            self.config = _hparams(config)
        self._accelerator = accelerator
        config = None if self.tracker == "tensorboard" else self.config  # the config already sits beside the weights
        if accelerator is not None:
            accelerator.init_trackers(PROJECT, config=config)
        else:
            for tracker in self.trackers:
                tracker.start()
                if config:
                    tracker.store_init_configuration(config)
        self._started = True

    def log(self, values: dict[str, Any], *, step: int) -> None:
        """Log the numbers of one step's record (strings and None are left out)."""
        if not self.trackers:
            return
        scalars = _scalars(values)
        if self._accelerator is not None:
            self._accelerator.log(scalars, step=step)
        else:
            for tracker in self.trackers:
                tracker.log(scalars, step=step)

    def finish(self) -> dict[str, Any]:
        """End the run (flushing its files); returns what a model version records of it."""
        if self._started:
            # not accelerator.end_training(): it also destroys the process group, which the trainers still use
            for tracker in self._accelerator.trackers if self._accelerator is not None else self.trackers:
                tracker.finish()
            self._started = False
        return {
            "tracker": self.tracker,
            "log_dir": str(self.log_dir) if self.log_dir else None,
            "run_name": self.run_name,
        }


def scalars_read(log_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """A TensorBoard run's scalars, {tag: [(step, value), ...]} in step order; {} for a missing folder
    (read with TensorBoard's own event reader, the one `tensorboard` serves from)."""
    if not Path(log_dir).is_dir():
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every point
    events.Reload()
    return {tag: sorted((e.step, e.value) for e in events.Scalars(tag)) for tag in sorted(events.Tags()["scalars"])}
