"""Plain-text rendering of results for people; JSON output is the results' own to_dict()."""

from __future__ import annotations

from faceledger.policy.comparison import threshold_text
from faceledger.services.standalone.analysis import ChosenFace, Comparison, FileResult
from faceledger.types import DetectedFace, ImageFaces


def image_text(result: ImageFaces) -> list[str]:
    info, used = result.image, result.detector_settings
    count = len(result.faces)
    upsample = f", upsample {used['upsample']}" if "upsample" in used else ""  # dlib's detectors only
    lines = [
        f"{info.name}: {count} face{'s' if count != 1 else ''} "
        f"({info.format} {info.width}x{info.height}; {used['detector']} detector{upsample}"
        f"{', rotation search' if used.get('rotation_search') else ''})"
    ]
    for face in result.faces:
        lines.extend("  " + line for line in face_text(face))
    return lines


def face_text(face: DetectedFace) -> list[str]:
    box = face.box
    turned = f", found turned {face.rotation_deg} deg" if face.rotation_deg else ""
    verdict = "acceptable" if face.quality.acceptable else "below the quality gate"
    found = f"detector confidence {face.detector_score:.2f}" if face.detector else "chosen by a person"
    lines = [
        f"face {face.index}: box left {box.left} top {box.top} right {box.right} bottom {box.bottom} "
        f"({box.width}x{box.height} px), {found}{turned}",
        f"  quality {face.quality.score:.2f} ({verdict})",
    ]
    lines.extend(f"    {reason}" for reason in face.quality.reasons)
    points = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in face.landmarks)
    if face.chip is not None and face.chip.shape[0] == 112:  # YuNet's five points, SFace's template chip
        lines.append(f"  landmarks (eyes, nose tip, mouth corners): {points}")
    else:
        lines.append(f"  landmarks (eye corners, eye corners, nose): {points}")
    if face.embedding is not None:
        for embedding in face.embeddings:
            lines.append(f"  embedding: {embedding.vector.shape[0]}-d, model {embedding.model.key}")
    else:
        lines.append(f"  not embedded: {face.not_embedded_reason}")
    return lines


def file_result_dict(result: FileResult) -> dict[str, object]:
    if result.faces is None:
        return {"file": str(result.path), "ok": False, "error": result.error}
    info = result.faces.image
    return {
        "file": str(result.path),
        "ok": True,
        "image": {
            "format": info.format,
            "width": info.width,
            "height": info.height,
            "sha256": info.sha256,
            "exif_orientation": info.exif_orientation,
            "original_mode": info.original_mode,
        },
        "detector_settings": result.faces.detector_settings,
        "faces": [face.to_dict() for face in result.faces.faces],
    }


def comparison_text(result: Comparison) -> list[str]:
    at_threshold = result.threshold_false_match
    return [
        _chosen("A", result.a),
        _chosen("B", result.b),
        f"distance {result.distance:.3f}: {result.likelihood.value}",
        f"  scored by the {result.scored_by}",
        f"  {result.relation}",
        f"  false-match estimate: {result.false_match.describe()}",
        f"  at the threshold {threshold_text(result.threshold)}: "
        f"about 1 in {at_threshold.one_in():,} strangers would pass; "
        f"{100 * result.threshold_false_non_match_rate:.1f}% of same-person pairs would not "
        f"- measured on {result.calibration.dataset}",
        "A likelihood from a face comparison, never an identification.",
    ]


def _chosen(label: str, chosen: ChosenFace) -> str:
    quality = "acceptable" if chosen.face.quality.acceptable else "; ".join(chosen.face.quality.problems)
    return f"{label}: {chosen.faces.image.name}, face {chosen.face.index} ({chosen.how_chosen}); quality: {quality}"
