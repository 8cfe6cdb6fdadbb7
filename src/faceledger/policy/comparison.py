"""Pure decisions about scores: the engine measures distances, policy says what they mean.

Wording is fixed here so that no entry point can say "identified": a comparison is a likelihood."""

from __future__ import annotations

import math

from faceledger.errors import InvalidInput
from faceledger.types import Likelihood


def assess_distance(distance: float, threshold: float, margin: float) -> Likelihood:
    """Below the threshold (less the margin) is likely the same person; within the margin, inconclusive."""
    if math.isnan(distance) or distance < 0:
        raise InvalidInput(f"distance must be a non-negative number, got {distance}")
    if threshold <= 0 or margin < 0:
        raise InvalidInput(f"threshold must be positive and margin non-negative (got {threshold}, {margin})")
    if distance <= threshold - margin:
        return Likelihood.LIKELY_SAME
    if distance <= threshold + margin:
        return Likelihood.INCONCLUSIVE
    return Likelihood.LIKELY_DIFFERENT


def threshold_text(threshold: float) -> str:
    """Two decimals (dlib's "0.60"), three where the threshold has them (a carried one such as SFace's 1.135)."""
    return f"{threshold:.2f}" if abs(threshold - round(threshold, 2)) < 1e-9 else f"{threshold:.3f}"


def relation_to_threshold(distance: float, threshold: float) -> str:
    shown = threshold_text(threshold)
    if distance < threshold:
        return f"distance {distance:.3f} is below the threshold {shown} by {threshold - distance:.3f}"
    if distance > threshold:
        return f"distance {distance:.3f} is above the threshold {shown} by {distance - threshold:.3f}"
    return f"distance {distance:.3f} equals the threshold {shown}"


LEAD_DISCLAIMER = "A likelihood from a face comparison, never an identification."
