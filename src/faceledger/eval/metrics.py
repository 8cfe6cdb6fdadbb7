"""Biometric error metrics on distances (lower = more alike), with confidence intervals.

Conventions: a pair or probe "matches" when its distance is <= the threshold."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceledger.errors import InvalidInput

Floats = npt.NDArray[np.float64]
_Z95 = 1.959964


@dataclass(frozen=True)
class Rate:
    """k of n, with a two-sided 95% Wilson interval."""

    errors: int
    trials: int
    clustered_interval: tuple[float, float] | None = None  # from resampling people, when pairs share people

    @property
    def value(self) -> float:
        return self.errors / self.trials if self.trials else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """The wider of the per-pair (Wilson) and the people-resampled interval: resampling alone says
        nothing when no error was seen, Wilson alone is too narrow when pairs share people."""
        low, high = wilson_interval(self.errors, self.trials)
        if self.clustered_interval is None or math.isnan(self.clustered_interval[0]):
            return low, high
        return min(low, self.clustered_interval[0]), max(high, self.clustered_interval[1])

    def to_dict(self) -> dict[str, float | int]:
        low, high = self.interval
        return {"rate": self.value, "low_95": low, "high_95": high, "errors": self.errors, "trials": self.trials}


def wilson_interval(k: int, n: int, z: float = _Z95) -> tuple[float, float]:
    if n <= 0:
        return (float("nan"), float("nan"))
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - spread), min(1.0, centre + spread))


def _split(distances: npt.ArrayLike, same: npt.ArrayLike) -> tuple[Floats, Floats]:
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    if d.shape != s.shape or d.ndim != 1:
        raise InvalidInput("distances and labels must be 1-d and of equal length")
    genuine, impostor = np.sort(d[s]), np.sort(d[~s])
    if not len(genuine) or not len(impostor):
        raise InvalidInput("need both genuine and impostor pairs")
    return genuine, impostor


def roc(distances: npt.ArrayLike, same: npt.ArrayLike) -> tuple[Floats, Floats, Floats]:
    """(thresholds, FAR, TAR) at every distinct distance, thresholds ascending."""
    genuine, impostor = _split(distances, same)
    thresholds = np.unique(np.concatenate([genuine, impostor]))
    tar = np.searchsorted(genuine, thresholds, side="right") / len(genuine)
    far = np.searchsorted(impostor, thresholds, side="right") / len(impostor)
    return thresholds, far, tar


def tar_at_far(distances: npt.ArrayLike, same: npt.ArrayLike, far_target: float) -> tuple[float, float]:
    """The best TAR whose FAR does not exceed the target, and the threshold giving it."""
    thresholds, far, tar = roc(distances, same)
    allowed = far <= far_target
    if not allowed.any():
        return 0.0, float("nan")
    best = int(np.flatnonzero(allowed)[-1])
    return float(tar[best]), float(thresholds[best])


def equal_error_rate(distances: npt.ArrayLike, same: npt.ArrayLike) -> float:
    _, far, tar = roc(distances, same)
    frr = 1 - tar
    index = int(np.argmin(np.abs(far - frr)))
    return float((far[index] + frr[index]) / 2)


def best_threshold(distances: npt.ArrayLike, same: npt.ArrayLike) -> tuple[float, float]:
    """The threshold with the highest accuracy (ties: the middle of the best run), and that accuracy."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    candidates = np.unique(d)
    accuracy = np.array([np.mean((d <= t) == s) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    chosen = candidates[best[len(best) // 2]]
    return float(chosen), float(accuracy.max())


def kfold_accuracy(
    distances: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike, fallback_threshold: float = 0.6
) -> list[tuple[float, float]]:
    """LFW's unrestricted protocol: per fold, the threshold chosen on the other folds and accuracy on this one.
    With a single fold there are no other folds: `fallback_threshold` (dlib's 0.6, or the pipeline's own)."""
    d = np.asarray(distances, dtype=np.float64)
    s = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    results = []
    for fold in np.unique(f):
        train, test = f != fold, f == fold
        threshold = best_threshold(d[train], s[train])[0] if train.any() else fallback_threshold
        results.append((threshold, float(np.mean((d[test] <= threshold) == s[test]))))
    return results


def rank_k(mate_ranks: npt.ArrayLike, k: int) -> float:
    """Closed set: the share of probes whose mate is among the k nearest (ranks are 1-based)."""
    ranks = np.asarray(mate_ranks)
    return float(np.mean(ranks <= k)) if len(ranks) else float("nan")


def fnir_at_fpir(
    mated_top: npt.ArrayLike, mated_found: npt.ArrayLike, nonmated_top: npt.ArrayLike, fpir_target: float
) -> tuple[float, float]:
    """Open set at the threshold where the non-mated probes' false-positive rate is at most the target:
    a mated probe fails if its mate is not the top candidate or scores above the threshold."""
    nonmated = np.sort(np.asarray(nonmated_top, dtype=np.float64))
    if not len(nonmated):
        raise InvalidInput("need non-mated probes")
    allowed = math.floor(fpir_target * len(nonmated))
    threshold = float(nonmated[allowed] - 1e-12) if allowed < len(nonmated) else float("inf")
    top = np.asarray(mated_top, dtype=np.float64)
    found = np.asarray(mated_found, dtype=bool)
    fnir = float(np.mean(~(found & (top <= threshold)))) if len(top) else float("nan")
    return fnir, threshold


def fpir_at(nonmated_top: npt.ArrayLike, threshold: float) -> float:
    values = np.asarray(nonmated_top, dtype=np.float64)
    return float(np.mean(values <= threshold)) if len(values) else float("nan")


def people_bootstrap_interval(
    errors: npt.ArrayLike, trials: npt.ArrayLike, reps: int = 400, seed: int = 0, *, diagonal: bool = False
) -> tuple[float, float]:
    """95% interval of a rate over pairs of people, resampling people rather than pairs: pairs that
    share a person are not independent, and a per-pair interval would be too narrow.
    `errors[i, j]` and `trials[i, j]` count the pairs between person i and person j; with `diagonal`,
    they are vectors of per-person counts (genuine pairs)."""
    rates = people_bootstrap_rates(errors, trials, reps, seed, diagonal=diagonal)
    if not len(rates):
        return (float("nan"), float("nan"))
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def people_bootstrap_rates(
    errors: npt.ArrayLike, trials: npt.ArrayLike, reps: int = 400, seed: int = 0, *, diagonal: bool = False
) -> Floats:
    """The rate in each resampling of people (see people_bootstrap_interval); resamplings with no trials
    are left out."""
    e = np.asarray(errors, dtype=np.float64)
    t = np.asarray(trials, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rates: list[float] = []
    for _ in range(reps):
        chosen = rng.integers(0, len(e), len(e))
        total = t[chosen].sum() if diagonal else t[np.ix_(chosen, chosen)].sum()
        if total:
            found = e[chosen].sum() if diagonal else e[np.ix_(chosen, chosen)].sum()
            rates.append(found / total)
    return np.array(rates, dtype=np.float64)
