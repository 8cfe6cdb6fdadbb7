from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faceledger.errors import InvalidInput
from faceledger.policy.comparison import assess_distance, relation_to_threshold
from faceledger.types import Likelihood


def test_bands() -> None:
    assert assess_distance(0.3, 0.6, 0.04) is Likelihood.LIKELY_SAME
    assert assess_distance(0.58, 0.6, 0.04) is Likelihood.INCONCLUSIVE
    assert assess_distance(0.63, 0.6, 0.04) is Likelihood.INCONCLUSIVE
    assert assess_distance(0.7, 0.6, 0.04) is Likelihood.LIKELY_DIFFERENT


@given(st.floats(0, 2), st.floats(0, 2))
def test_monotone(a: float, b: float) -> None:
    order = [Likelihood.LIKELY_SAME, Likelihood.INCONCLUSIVE, Likelihood.LIKELY_DIFFERENT]
    low, high = sorted((a, b))
    assert order.index(assess_distance(low, 0.6, 0.04)) <= order.index(assess_distance(high, 0.6, 0.04))


def test_refuses_nonsense() -> None:
    with pytest.raises(InvalidInput):
        assess_distance(float("nan"), 0.6, 0.04)
    with pytest.raises(InvalidInput):
        assess_distance(0.5, 0.0, 0.04)


def test_relation_wording() -> None:
    assert relation_to_threshold(0.5, 0.6) == "distance 0.500 is below the threshold 0.60 by 0.100"
    assert "above" in relation_to_threshold(0.7, 0.6)
