"""The threshold a search uses now: the deployment's promise (Settings.target_fpir) applied to the live
gallery size and the pipeline's calibration table (policy/operating_threshold.py). Derived again for every
search, so it tightens as the gallery grows; each governed search stores and ledgers the one it used."""

from __future__ import annotations

from faceledger.engine.scales import scale_for_table
from faceledger.policy.operating_threshold import OperatingThreshold, operating_threshold
from faceledger.services.deployment import Deployment


def current_threshold(deployment: Deployment, gallery_faces: int | None = None) -> OperatingThreshold:
    """For `gallery_faces` (default: the faces in the index a search would scan now)."""
    settings = deployment.settings
    faces = deployment.index.count() if gallery_faces is None else gallery_faces
    # A fixed match_threshold is a dlib distance: carried onto the pipeline's scale at equal false-match rate.
    fixed = scale_for_table(deployment.calibration).distance(settings.match_threshold)
    return operating_threshold(deployment.calibration, faces, settings.target_fpir,
                               settings.threshold_min_group_people, mode=settings.threshold_mode,
                               fixed=fixed)  # fmt: skip
