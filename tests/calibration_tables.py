"""Small calibration tables built by hand, with per-group counts, for threshold tests."""

from __future__ import annotations

from faceledger.engine.calibration import CalibrationTable, GroupCalibration
from faceledger.types import ModelIdentity

GRID = tuple(round(0.1 * i, 1) for i in range(11))  # 0.0 .. 1.0
MODEL = ModelIdentity("hand_built", "1", "0" * 64)


def cumulative(pairs: int, rates: tuple[float, ...]) -> tuple[int, ...]:
    return tuple(round(pairs * rate) for rate in rates)


# False-match rates per grid row: the overall table, a well-measured group, a group measured worse and
# a group of 12 people whose rates are terrible (too few people to steer by).
OVERALL_RATES = (0, 0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5, 1.0)
AFRICAN_RATES = (0, 0, 0, 1e-4, 1e-3, 1e-2, 5e-2, 0.2, 0.5, 0.8, 1.0)
CAUCASIAN_RATES = (0, 0, 1e-6, 5e-6, 5e-5, 5e-4, 5e-3, 0.03, 0.1, 0.4, 1.0)
THIN_RATES = (0, 0.2, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def group(attribute: str, name: str, people: int, pairs: int, rates: tuple[float, ...]) -> GroupCalibration:
    return GroupCalibration(attribute, name, people, pairs, cumulative(pairs, rates))


def table(*groups: GroupCalibration, pairs: int = 10_000_000) -> CalibrationTable:
    genuine = tuple(max(0, 1000 - 100 * i) for i in range(len(GRID)))
    return CalibrationTable(
        MODEL, "hand-built", "for tests", pairs, 1000, GRID, cumulative(pairs, OVERALL_RATES), genuine, tuple(groups)
    )


AFRICAN = group("race", "african", 48, 5_000_000, AFRICAN_RATES)
CAUCASIAN = group("race", "caucasian", 900, 8_000_000, CAUCASIAN_RATES)
THIN = group("race", "east_asian", 12, 10_000, THIN_RATES)
