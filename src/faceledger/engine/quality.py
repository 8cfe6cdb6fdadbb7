"""Face quality: measured properties, each against a pass mark, each with a sentence a person can read.

Every check's score is 0.5 exactly at its pass mark and 1.0 at its "good" level, so the overall score
(the weakest check) is >= 0.5 exactly when every check passes."""

from __future__ import annotations

import numpy as np

from faceledger.config import Settings
from faceledger.types import Box, Detector, Quality, QualityCheck, RGBImage

_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114])
_GOOD_FRONTALNESS = 0.9
_GOOD_CONTRAST = 25.0
# The sface/fused pipelines judge YuNet's 112 px template chip, framed tighter than dlib's 150 px chip: the
# same face's Laplacian variance there is ~2.7x dlib's (median 2.73, IQR 2.16-3.37, over 208 faces of 200
# LFW View 1 training images paired by box, bench/quality_scales.py), so quality_min_sharpness (set on
# dlib's chip) would pass blurred faces (99.0% passed vs dlib's 95.2%). Divided back onto dlib's scale.
TEMPLATE_SHARPNESS_PER_DLIB = 2.7
# The other marks, measured the same way (245 paired faces, 215 images; bench/quality_scales.py, after this
# correction): brightness and contrast read alike (medians within 7%; pass rates 100% on both); YuNet's boxes
# are ~8% smaller than HOG's (median 94 vs 108 px; face-size pass 91.4% vs 92.2%); YuNet's nose TIP moves
# further with yaw than dlib's nose base, so frontalness reads ~0.03 lower and passes 85.7% vs 92.7% (25
# faces disagree): the sface gate is a little stricter on pose, never looser, and is left so.


def assess_quality(
    box: Box,
    detector: Detector | None,
    detector_score: float,
    landmarks: tuple[tuple[float, float], ...],
    chip: RGBImage,
    settings: Settings,
    *,
    template_points: bool = False,
) -> Quality:
    """`template_points`: the landmarks are YuNet's five (eye centres, nose tip, mouth corners), not dlib's."""
    centre = _central_gray(chip)
    checks = [
        _face_size(box, settings),
        _sharpness(centre, settings, TEMPLATE_SHARPNESS_PER_DLIB if template_points else 1.0),
        _frontalness(landmarks, settings, template_points),
        _brightness(centre, settings),
        _contrast(centre, settings),
    ]
    if detector is not None:  # a box a person drew has no detector confidence to judge
        checks.append(_detector_confidence(detector, detector_score, settings))
    return Quality(checks=tuple(checks))


def ramp(value: float, minimum: float, good: float) -> float:
    """0 at 0, 0.5 at the pass mark, 1 at the good level; linear in between."""
    if value >= good:
        return 1.0
    if value >= minimum:
        return 0.5 + 0.5 * (value - minimum) / (good - minimum)
    return max(0.0, 0.5 * value / minimum) if minimum > 0 else 0.0


def yaw_ratio(landmarks: tuple[tuple[float, float], ...], template_points: bool = False) -> float:
    """How far the nose sits from the midpoint between the eyes, along the eye line, in half eye-distances.

    0 for a frontal face, towards 1 for a profile. dlib's 5-point model: points 0-1 and 2-3 are the
    corners of the two eyes, point 4 the base of the nose. YuNet's (template_points): 0 and 1 the eye
    centres, 2 the nose tip."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        return 1.0
    if template_points:
        eye_a, eye_b, nose = points[0], points[1], points[2]
    else:
        eye_a, eye_b, nose = points[0:2].mean(axis=0), points[2:4].mean(axis=0), points[4]
    axis = eye_b - eye_a
    half = float(np.linalg.norm(axis)) / 2
    if half < 1e-6:
        return 1.0
    offset = float(np.dot(nose - (eye_a + eye_b) / 2, axis / (2 * half)))
    return min(1.0, abs(offset) / half)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: low for blurred or out-of-focus faces."""
    lap = 4 * gray[1:-1, 1:-1] - gray[:-2, 1:-1] - gray[2:, 1:-1] - gray[1:-1, :-2] - gray[1:-1, 2:]
    return float(lap.var())


def _central_gray(chip: RGBImage) -> np.ndarray:
    """The middle of the aligned chip: the face itself, without the padding's background."""
    h, w = chip.shape[:2]
    middle = chip[h // 4 : h - h // 4, w // 4 : w - w // 4].astype(np.float64)
    return np.asarray(middle @ _GRAY_WEIGHTS)


def _check(name: str, value: float, passed: bool, score: float, message: str) -> QualityCheck:
    return QualityCheck(name=name, value=value, passed=passed, score=score, message=message)


def _face_size(box: Box, settings: Settings) -> QualityCheck:
    size = min(box.width, box.height)
    minimum = settings.quality_min_face_px
    return _check(
        "face_size_px",
        size,
        size >= minimum,
        ramp(size, minimum, settings.quality_good_face_px),
        f"face {size} px wide; minimum {minimum}",
    )


def _sharpness(gray: np.ndarray, settings: Settings, per_dlib: float) -> QualityCheck:
    """`per_dlib`: how much sharper this chip reads than dlib's chip of the same face (1 for dlib's)."""
    value = sharpness(gray) / per_dlib
    minimum = settings.quality_min_sharpness
    hint = "" if value >= minimum else " (blurred or out of focus)"
    return _check(
        "sharpness",
        value,
        value >= minimum,
        ramp(value, minimum, settings.quality_good_sharpness),
        f"sharpness {value:.0f}; minimum {minimum:.0f}{hint}",
    )


def _frontalness(landmarks: tuple[tuple[float, float], ...], settings: Settings, template_points: bool) -> QualityCheck:
    value = 1.0 - yaw_ratio(landmarks, template_points)
    minimum = 1.0 - settings.quality_max_yaw
    hint = "" if value >= minimum else " (head turned away from the camera)"
    return _check(
        "frontalness",
        value,
        value >= minimum,
        ramp(value, minimum, _GOOD_FRONTALNESS),
        f"frontalness {value:.2f}; minimum {minimum:.2f}{hint}",
    )


def _brightness(gray: np.ndarray, settings: Settings) -> QualityCheck:
    value = float(gray.mean())
    low, high = settings.quality_min_brightness, settings.quality_max_brightness
    centre, half = (low + high) / 2, (high - low) / 2
    score = min(1.0, max(0.0, 1.0 - 0.5 * abs(value - centre) / half))
    hint = " (too dark)" if value < low else " (too bright)" if value > high else ""
    return _check(
        "brightness",
        value,
        low <= value <= high,
        score,
        f"brightness {value:.0f} of 255; expected {low:.0f}-{high:.0f}{hint}",
    )


def _contrast(gray: np.ndarray, settings: Settings) -> QualityCheck:
    value = float(gray.std())
    minimum = settings.quality_min_contrast
    hint = "" if value >= minimum else " (flat light, haze or overexposure)"
    return _check(
        "contrast",
        value,
        value >= minimum,
        ramp(value, minimum, max(_GOOD_CONTRAST, minimum * 1.5)),
        f"contrast {value:.0f}; minimum {minimum:.0f}{hint}",
    )


def _detector_confidence(detector: Detector, score: float, settings: Settings) -> QualityCheck:
    if detector is Detector.HOG:
        minimum, good = settings.quality_min_hog_score, 1.5
    elif detector is Detector.YUNET:
        minimum, good = settings.quality_min_yunet_score, 0.9
    else:
        minimum, good = settings.quality_min_cnn_score, 1.0
    return _check(
        "detector_confidence",
        score,
        score >= minimum,
        ramp(score, minimum, good),
        f"detector confidence {score:.2f} ({detector.value}); minimum {minimum:.2f}",
    )
