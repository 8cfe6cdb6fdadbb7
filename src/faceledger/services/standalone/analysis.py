"""Use cases on images with no deployment behind them: find faces, compare two faces."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable, FalseMatchEstimate, load_pipeline_calibration
from faceledger.engine.contact_sheet import contact_sheet
from faceledger.engine.distance import embedding_distance
from faceledger.engine.fusion import FusionRule
from faceledger.engine.licences import ModelNotice, pipeline_models
from faceledger.engine.models import runtime_versions
from faceledger.engine.onnx_models import versions as onnx_versions
from faceledger.engine.parallel import FileResult, analyse_file, analyse_files
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.scales import scale_for_table
from faceledger.engine.video_faces import VideoFaces, analyse_video
from faceledger.errors import InvalidInput, ModelMismatch, NoFaceFound
from faceledger.policy.comparison import LEAD_DISCLAIMER, assess_distance, relation_to_threshold
from faceledger.services.runtime.pipeline_models import pipeline_fusion_rule
from faceledger.types import DetectedFace, Detector, Embedding, ImageFaces, Likelihood, Pipeline

__all__ = [
    "AnalysisService",
    "ChosenFace",
    "Comparison",
    "FileResult",
    "ModelNotice",
    "VideoFaces",
    "contact_sheet",
    "model_notices",
    "runtime",
    "save_chips",
    "video_tracks",
]


@dataclass(frozen=True)
class ChosenFace:
    faces: ImageFaces
    face: DetectedFace
    embedding: Embedding
    how_chosen: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.faces.image.name,
            "image_sha256": self.faces.image.sha256,
            "faces_found": len(self.faces.faces),
            "face": self.face.index,
            "how_chosen": self.how_chosen,
            "box": self.face.box.to_dict(),
            "quality": self.face.quality.to_dict(),
        }


@dataclass(frozen=True)
class Comparison:
    a: ChosenFace
    b: ChosenFace
    distance: float
    threshold: float
    likelihood: Likelihood
    relation: str
    false_match: FalseMatchEstimate
    threshold_false_match: FalseMatchEstimate
    threshold_false_non_match_rate: float
    calibration: CalibrationTable
    pipeline: Pipeline = Pipeline.DLIB
    model_scores: dict[str, float] | None = None  # each model's distance, by model key (None: one model)
    inconclusive_margin: float | None = None  # on this pipeline's scale (None: not recorded)

    @property
    def scored_by(self) -> str:
        """Which pipeline and models scored the pair, for the CLI text."""
        models = ", ".join(self.model_scores) if self.model_scores else self.a.embedding.model.key
        how = f"{self.calibration.model.name} over {models}" if self.model_scores else models
        return f"pipeline {self.pipeline.value}: {how}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "distance": round(self.distance, 4),
            "likelihood": self.likelihood.value,
            "threshold": self.threshold,
            "relation_to_threshold": self.relation,
            "false_match": self.false_match.to_dict(),
            "at_threshold": {
                "false_match": self.threshold_false_match.to_dict(),
                "false_non_match_rate": round(self.threshold_false_non_match_rate, 4),
            },
            "calibration": {"dataset": self.calibration.dataset, "method": self.calibration.method},
            "model": self.calibration.model.to_dict(),
            "pipeline": self.pipeline.value,
            "scored_by": self.scored_by,
            "model_scores": None
            if self.model_scores is None
            else {key: round(value, 4) for key, value in self.model_scores.items()},
            "inconclusive_margin": None if self.inconclusive_margin is None else round(self.inconclusive_margin, 4),
            "note": LEAD_DISCLAIMER,
        }


class AnalysisService:
    def __init__(
        self, settings: Settings, engine: FaceEngine | None = None, calibration: CalibrationTable | None = None
    ) -> None:
        self.settings = settings
        self._engine = engine
        self._calibration = calibration

    @property
    def engine(self) -> FaceEngine:
        if self._engine is None:
            self._engine = FaceEngine(self.settings).load()
        return self._engine

    @property
    def calibration(self) -> CalibrationTable:
        if self._calibration is None:
            self._calibration = load_pipeline_calibration(self.settings.pipeline)  # its own distances' table
        return self._calibration

    def detect(
        self,
        paths: Sequence[Path],
        detector: Detector | None = None,
        on_result: Callable[[FileResult], None] | None = None,
    ) -> Iterator[FileResult]:
        """Faces of every file; a bad file yields a result with its error and the others go on."""
        if len(paths) == 1:  # a process pool costs more than it saves for one image
            result = analyse_file(self.engine, paths[0], detector)
            if on_result is not None:
                on_result(result)
            yield result
            return
        yield from analyse_files(paths, self.settings, detector=detector, on_result=on_result)

    def compare(
        self,
        path_a: Path,
        path_b: Path,
        *,
        face_a: int | None = None,
        face_b: int | None = None,
        detector: Detector | None = None,
    ) -> Comparison:
        a = self._choose(path_a, face_a, detector)
        b = self._choose(path_b, face_b, detector)
        rule = pipeline_fusion_rule(self.settings)
        scores = None
        if rule is None:
            self.calibration.check_model(a.embedding.model)
            distance = embedding_distance(a.embedding, b.embedding)
        else:
            scores = fused_scores(rule, a.face, b.face)
            distance = rule.distance(scores)
        # match_threshold and inconclusive_margin are stated on dlib's scale: carried onto this pipeline's
        # at equal false-match rate (engine/scales.py); on dlib's own table they are used unchanged.
        scale = scale_for_table(self.calibration)
        threshold = scale.distance(self.settings.match_threshold)
        margin = scale.margin(self.settings.inconclusive_margin, self.settings.match_threshold)
        return Comparison(
            a=a,
            b=b,
            distance=distance,
            threshold=threshold,
            likelihood=assess_distance(distance, threshold, margin),
            relation=relation_to_threshold(distance, threshold),
            false_match=self.calibration.false_match(distance),
            threshold_false_match=self.calibration.false_match(threshold),
            threshold_false_non_match_rate=self.calibration.false_non_match_rate(threshold),
            calibration=self.calibration,
            pipeline=self.settings.pipeline,
            model_scores=scores,
            inconclusive_margin=margin,
        )

    def _choose(self, path: Path, number: int | None, detector: Detector | None) -> ChosenFace:
        faces = self.engine.analyse(self.engine.load_image(path), detector)
        name = faces.image.name
        if not faces.faces:
            used = faces.detector_settings
            tried = f"{used['fallback_from']} then {used['detector']}" if "fallback_from" in used else used["detector"]
            raise NoFaceFound(f"{name}: no face found (tried the {tried} detector)")
        if number is not None:
            if not 1 <= number <= len(faces.faces):
                raise InvalidInput(f"{name}: there is no face {number}; {len(faces.faces)} found")
            face = faces.faces[number - 1]
            if face.embedding is None:
                raise NoFaceFound(f"{name}: face {number} cannot be compared: {face.not_embedded_reason}")
            return ChosenFace(faces, face, face.embedding, "chosen")
        usable = [(face, face.embedding) for face in faces.faces if face.embedding is not None]
        if not usable:
            reasons = "; ".join(f"face {f.index}: {f.not_embedded_reason}" for f in faces.faces)
            raise NoFaceFound(f"{name}: no face large enough to compare ({reasons})")
        face, embedding = max(usable, key=lambda pair: pair[0].box.area)
        how = "the only face" if len(faces.faces) == 1 else f"the largest of {len(faces.faces)} faces"
        return ChosenFace(faces, face, embedding, how)


def fused_scores(rule: FusionRule, a: DetectedFace, b: DetectedFace) -> dict[str, float]:
    """Each of the rule's models' distance for the pair, where both faces have that model's embedding."""
    theirs = {e.model.key: e for e in b.embeddings}
    scores = {
        e.model.key: embedding_distance(e, theirs[e.model.key])
        for e in a.embeddings
        if e.model.key in theirs and e.model.key in rule.model_keys
    }
    if not scores:
        raise ModelMismatch(
            f"the faces have no embedding by a model of the fusion rule {rule.name} in common "
            f"(it needs {', '.join(rule.model_keys)})"
        )
    return scores


def save_chips(faces: ImageFaces, out_dir: Path) -> list[Path]:
    """Write each face's aligned 150 px chip as PNG, named by the image's stem and content hash."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"{out_dir}: cannot create the folder ({exc.strerror})") from exc
    stem, digest = Path(faces.image.name).stem, faces.image.sha256[:8]
    written = []
    for face in faces.faces:
        if face.chip is None:
            continue
        path = out_dir / f"{stem}-{digest}-face{face.index}.png"
        Image.fromarray(face.chip).save(path)
        written.append(path)
    return written


def video_tracks(
    path: Path,
    settings: Settings,
    *,
    every_s: float,
    workers: int | None = None,
    attribution: str = "",
    on_frame: Callable[[int, int], None] | None = None,
) -> VideoFaces:
    """One track per person in a local video, each with its best face (`faceledger video faces`)."""
    return analyse_video(path, settings, every_s=every_s, workers=workers, attribution=attribution, on_frame=on_frame)


def model_notices(pipeline: Pipeline) -> list[ModelNotice]:
    """The pipeline's shipped models: identity and licence."""
    return pipeline_models(pipeline)


def runtime(pipeline: Pipeline) -> dict[str, str]:
    """The packages that run the pipeline's models, with their versions."""
    return {**runtime_versions(), **(onnx_versions() if pipeline is not Pipeline.DLIB else {})}
