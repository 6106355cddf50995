"""Win rates of one policy over another with 95% intervals (paper Fig. 11); ties count one half."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from reward_training.evaluation.reward_accuracy import wilson_interval


@dataclass(frozen=True)
class WinRate:
    rate: float
    low: float  # 95% Wilson score interval
    high: float
    n: int
    wins: int
    ties: int
    losses: int

    def as_dict(self) -> dict:
        return asdict(self)


def outcome(new: float, old: float, tie_tolerance: float = 1e-6) -> float:
    """1 if `new` scores higher, 0 if lower, 0.5 within the tolerance."""
    if abs(new - old) <= tie_tolerance:
        return 0.5
    return 1.0 if new > old else 0.0


def win_rate(outcomes: list[float], z: float = 1.96) -> WinRate:
    """The mean outcome with a Wilson score interval on (wins + ties / 2) out of n."""
    n = len(outcomes)
    if n == 0:
        raise ValueError("no outcomes to rate")
    wins = sum(1 for o in outcomes if o == 1.0)
    ties = sum(1 for o in outcomes if o == 0.5)
    low, high = wilson_interval(wins + ties / 2, n, z)
    return WinRate(rate=(wins + ties / 2) / n, low=low, high=high, n=n, wins=wins, ties=ties, losses=n - wins - ties)


def promotion_passes(result: WinRate, threshold: float) -> bool:
    """The promotion gate: a refreshed policy becomes current only if its win rate is above `threshold`."""
    return result.rate > threshold
