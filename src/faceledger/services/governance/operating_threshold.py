"""The threshold a search uses now: the deployment's promise (Settings.target_fpir) applied to the live
gallery size and the pipeline's calibration table (policy/operating_threshold.py). Derived again for every
search, so it tightens as the gallery grows; each governed search stores and ledgers the one it used."""

from __future__ import annotations

from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable, load_pipeline_calibration
from faceledger.engine.operator_model import operator_calibration
from faceledger.engine.scales import scale_for_table
from faceledger.policy.operating_threshold import OperatingThreshold, operating_threshold
from faceledger.services.runtime.deployment import Deployment
from faceledger.types import Pipeline

_CACHED_SIZES = 256  # gallery sizes remembered; a busy gallery changes size with every ingest batch


def current_threshold(deployment: Deployment, gallery_faces: int | None = None) -> OperatingThreshold:
    """For `gallery_faces` (default: the faces in the index a search would scan now). Derived once per
    gallery size and table (a pure function of them): every search would otherwise derive it again."""
    settings = deployment.settings
    faces = deployment.index.count() if gallery_faces is None else gallery_faces
    table = deployment.calibration
    key = (
        faces,
        settings.target_fpir,
        settings.threshold_min_group_people,
        settings.threshold_mode,
        settings.match_threshold,
    )
    cached = deployment.threshold_cache.get(key)
    if cached is not None and cached[0] is table:
        return cached[1]  # type: ignore[no-any-return]
    # A fixed match_threshold is a dlib distance: carried onto the pipeline's scale at equal false-match rate.
    fixed = scale_for_table(table).distance(settings.match_threshold)
    derived = operating_threshold(
        table,
        faces,
        settings.target_fpir,
        settings.threshold_min_group_people,
        mode=settings.threshold_mode,
        fixed=fixed,
    )
    if len(deployment.threshold_cache) >= _CACHED_SIZES:
        deployment.threshold_cache.clear()
    deployment.threshold_cache[key] = (table, derived)
    return derived


def calibration_table(settings: Settings) -> CalibrationTable:
    """The table the settings' pipeline measures its distances with: an added model's, the one its stored
    LFW evaluation measured for that very file; a shipped pipeline's, its own (never dlib's for another)."""
    if settings.pipeline is Pipeline.OPERATOR:
        return operator_calibration(settings)
    return load_pipeline_calibration(settings.pipeline)
