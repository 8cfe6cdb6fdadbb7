"""Metrics against small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from faceledger.errors import InvalidInput
from faceledger.eval.metrics import (
    Rate,
    best_threshold,
    equal_error_rate,
    fnir_at_fpir,
    fpir_at,
    kfold_accuracy,
    rank_k,
    roc,
    tar_at_far,
    wilson_interval,
)

# genuine distances 0.1 0.2 0.3 0.7 ; impostor 0.4 0.5 0.8 0.9
D = [0.1, 0.2, 0.3, 0.7, 0.4, 0.5, 0.8, 0.9]
S = [True, True, True, True, False, False, False, False]


def test_roc_by_hand() -> None:
    thresholds, far, tar = roc(D, S)
    assert list(thresholds) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.8, 0.9]
    assert list(tar) == [0.25, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0]
    assert list(far) == [0.0, 0.0, 0.0, 0.25, 0.5, 0.5, 0.75, 1.0]


def test_tar_at_far() -> None:
    assert tar_at_far(D, S, 0.0) == (0.75, 0.3)
    assert tar_at_far(D, S, 0.5) == (1.0, 0.7)
    assert tar_at_far([0.5, 0.1], [True, False], 0.0) == (0.0, pytest.approx(float("nan"), nan_ok=True))


def test_eer_and_best_threshold() -> None:
    assert equal_error_rate(D, S) == pytest.approx(0.25)  # at 0.4: FAR 0.25, FRR 0.25
    threshold, accuracy = best_threshold(D, S)
    assert accuracy == 0.875 and threshold in (0.3, 0.7)  # 7 of 8 right at either


def test_kfold_chooses_the_threshold_on_the_other_folds() -> None:
    d = [0.1, 0.9, 0.2, 0.8, 0.45, 0.35]
    s = [True, False, True, False, True, False]
    folds = [0, 0, 1, 1, 2, 2]
    results = kfold_accuracy(d, s, folds)
    assert len(results) == 3
    assert results[0][1] == 1.0 and results[1][1] == 1.0
    # fold 2 is decided by a threshold learnt on folds 0-1 (between 0.2 and 0.8): 0.45 match, 0.35 too
    assert results[2][1] == 0.5


def test_rank_k() -> None:
    assert rank_k([1, 1, 2, 6], 1) == 0.5
    assert rank_k([1, 1, 2, 6], 5) == 0.75


def test_fnir_at_fpir() -> None:
    nonmated = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    mated_top = [0.2, 0.25, 0.4, 0.55]
    found = [True, True, False, True]
    fnir, threshold = fnir_at_fpir(mated_top, found, nonmated, 0.1)  # 1 of 10 non-mated may pass
    assert threshold == pytest.approx(0.5)
    assert fpir_at(nonmated, threshold) == pytest.approx(0.1)
    assert fnir == 0.5  # 0.4's mate was not on top; 0.55 is above the threshold
    assert fnir_at_fpir(mated_top, found, nonmated, 0.0)[0] == 0.5  # below 0.3: 0.2, 0.25 pass; 0.55 fails
    assert fnir_at_fpir(mated_top, found, nonmated, 0.3)[0] == 0.25  # below 0.7: only the wrong top fails
    with pytest.raises(InvalidInput):
        fnir_at_fpir(mated_top, found, [], 0.1)


def test_wilson_interval() -> None:
    low, high = wilson_interval(5, 100)
    assert low == pytest.approx(0.02154, abs=1e-4) and high == pytest.approx(0.11175, abs=1e-4)
    assert wilson_interval(0, 50)[0] == 0.0
    rate = Rate(3, 1000)
    assert rate.value == 0.003 and rate.interval[0] < 0.003 < rate.interval[1]
    assert np.isnan(Rate(0, 0).value)


def test_bad_input() -> None:
    with pytest.raises(InvalidInput):
        roc([0.1, 0.2], [True, True])
    with pytest.raises(InvalidInput):
        roc([0.1], [True, False])
