"""The face engine: pixels -> faces -> embeddings. `load()` once, then `analyse()` per image.
It knows nothing of cases, galleries or databases. `settings.pipeline` chooses the detector and the
embedders: dlib (HOG, CNN on a miss -> dlib ResNet), sface (YuNet -> SFace) or fused (YuNet -> SFace and
dlib ResNet); the sface and fused analyses live in onnx_pipeline.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.engine.detection import Located, locate_faces, rotate, to_original
from faceledger.engine.image_input import ImageLimits, LoadedImage, load_image
from faceledger.engine.models import model_files
from faceledger.engine.onnx_pipeline import OnnxAnalysis
from faceledger.engine.operator_model import OperatorEmbedder, OperatorStage, settings_spec
from faceledger.engine.quality import assess_quality
from faceledger.engine.runtime import DlibRuntime, FaceRuntime, RawDetection
from faceledger.engine.sface import SFaceEmbedder
from faceledger.engine.stages import DlibStage, FaceEmbedder, SFaceStage
from faceledger.engine.yunet import YuNetDetector
from faceledger.errors import InvalidInput
from faceledger.types import Box, DetectedFace, Detector, Embedding, ImageFaces, ModelIdentity, Pipeline


@dataclass
class OnnxModels:
    """The loaded YuNet and SFace sessions; shareable by engines with different settings."""

    yunet: YuNetDetector
    sface: SFaceEmbedder

    @classmethod
    def load(cls, settings: Settings) -> OnnxModels:
        provider, threads = settings.onnx_provider, settings.onnx_threads
        return cls(YuNetDetector(provider, threads), SFaceEmbedder(provider, threads))


@dataclass
class OperatorModels:
    """YuNet and the operator-added recognizer (Settings.operator_model), sha256-checked at load."""

    yunet: YuNetDetector
    embedder: OperatorEmbedder

    @classmethod
    def load(cls, settings: Settings) -> OperatorModels:
        provider, threads = settings.onnx_provider, settings.onnx_threads
        return cls(YuNetDetector(provider, threads), OperatorEmbedder(settings_spec(settings), provider, threads))


class FaceEngine:
    def __init__(
        self,
        settings: Settings,
        runtime: FaceRuntime | None = None,
        onnx: OnnxModels | None = None,
        operator: OperatorModels | None = None,
    ) -> None:
        self.settings = settings
        self._runtime = runtime
        self._onnx = onnx
        self._operator = operator

    def load(self) -> FaceEngine:
        """Load the models now (they load on first use otherwise); returns self for chaining."""
        if self.settings.pipeline is Pipeline.OPERATOR:
            _ = self.operator
            return self
        if self.settings.pipeline is not Pipeline.SFACE:
            _ = self.runtime
        if self.settings.pipeline is not Pipeline.DLIB:
            _ = self.onnx
        return self

    @property
    def operator(self) -> OperatorModels:
        if self._operator is None:
            self._operator = OperatorModels.load(self.settings)
        return self._operator

    @property
    def onnx(self) -> OnnxModels:
        if self._onnx is None:
            self._onnx = OnnxModels.load(self.settings)
        return self._onnx

    @property
    def models(self) -> tuple[ModelIdentity, ...]:
        """Every embedding model of the pipeline, in order: the first is Face.embedding's."""
        if self.settings.pipeline is Pipeline.DLIB:
            return (self.runtime.model,)
        return tuple(embedder.model for embedder in self._embedders())

    @property
    def detector_model(self) -> ModelIdentity | None:
        """The ONNX detector's identity (YuNet); None for dlib's detectors, which ship with its weights."""
        if self.settings.pipeline is Pipeline.OPERATOR:
            return self.operator.yunet.model
        return None if self.settings.pipeline is Pipeline.DLIB else self.onnx.yunet.model

    def _embedders(self) -> tuple[FaceEmbedder, ...]:
        if self.settings.pipeline is Pipeline.OPERATOR:
            return (OperatorStage(self.operator.embedder),)
        sface: FaceEmbedder = SFaceStage(self.onnx.sface, self.settings)
        if self.settings.pipeline is Pipeline.FUSED:
            return (sface, DlibStage(self.runtime, self.settings))
        return (sface,)

    def _onnx_analysis(self) -> OnnxAnalysis:
        yunet = self.operator.yunet if self.settings.pipeline is Pipeline.OPERATOR else self.onnx.yunet
        return OnnxAnalysis(self.settings, yunet, self._embedders())

    @property
    def runtime(self) -> FaceRuntime:
        if self._runtime is None:
            self._runtime = DlibRuntime(model_files(), self.settings.descriptor_runtime)
        return self._runtime

    @property
    def model(self) -> ModelIdentity:
        """The pipeline's first model: the one Face.embedding is made by."""
        return self.models[0]

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)

    def load_image(self, path: Path) -> LoadedImage:
        return load_image(path, self.limits)

    def analyse(self, image: LoadedImage, detector: Detector | None = None, *, embed: bool = True) -> ImageFaces:
        """Detect every face, then landmarks, quality and (when large enough) an embedding for each."""
        if self.settings.pipeline is not Pipeline.DLIB:
            return self._analyse_onnx(image, detector, embed)
        if detector is Detector.YUNET:
            raise InvalidInput("the yunet detector belongs to the sface and fused pipelines (FACELEDGER_PIPELINE)")
        chosen = detector or self.settings.detector
        located, used = locate_faces(self.runtime, image.pixels, self.settings, chosen)
        if not located and detector is None and chosen is Detector.HOG and self.settings.cnn_fallback:
            # HOG misses turned, dark or small faces that the CNN finds; it costs ~20x, so only on a miss.
            chosen = Detector.CNN
            located, used = locate_faces(self.runtime, image.pixels, self.settings, chosen)
            used = {**used, "fallback_from": Detector.HOG.value}
        faces = tuple(
            self._describe(image, spot, number, chosen, embed) for number, spot in enumerate(located, start=1)
        )
        return ImageFaces(image=image.info, faces=faces, detector_settings=used)

    def analyse_box(self, image: LoadedImage, box: Box, *, embed: bool = True) -> DetectedFace:
        """Describe the face in a box a person chose (or another detector found): no detection is run."""
        height, width = image.pixels.shape[:2]
        if box.width <= 0 or box.height <= 0 or box.right <= 0 or box.bottom <= 0:
            raise InvalidInput(f"{image.info.name}: the box {box.to_dict()} is empty")
        if box.left >= width or box.top >= height:
            raise InvalidInput(f"{image.info.name}: the box {box.to_dict()} lies outside the {width}x{height} image")
        raw = RawDetection(box.left, box.top, box.right - 1, box.bottom - 1, score=0.0)
        if self.settings.pipeline is not Pipeline.DLIB:  # five points from YuNet on a crop around the box
            return self._onnx_analysis().analyse_box(image, raw, box, embed)
        return self._describe(image, Located(raw, 0, box), 1, None, embed)

    def _analyse_onnx(self, image: LoadedImage, detector: Detector | None, embed: bool) -> ImageFaces:
        analysis = self._onnx_analysis()
        if detector is None or detector is Detector.YUNET:
            located, used = analysis.locate(image.pixels)
            return analysis.analyse_located(image, located, Detector.YUNET, used, embed)
        located, used = locate_faces(self.runtime, image.pixels, self.settings, detector)  # dlib's boxes
        return analysis.analyse_located(image, located, detector, used, embed)

    def _describe(
        self, image: LoadedImage, spot: Located, number: int, detector: Detector | None, embed: bool
    ) -> DetectedFace:
        height, width = image.pixels.shape[:2]
        turned = rotate(image.pixels, spot.quarter_turns)
        aligned = self.runtime.align(turned, spot.detection, self.settings.chip_padding)
        landmarks = tuple(to_original(x, y, spot.quarter_turns, width, height) for x, y in aligned.landmarks)
        score = spot.detection.score
        quality = assess_quality(spot.box, detector, score, landmarks, aligned.chip, self.settings)
        embedding, reason = None, None
        size = min(spot.box.width, spot.box.height)
        if size < self.settings.min_embed_face_px:
            reason = f"face {size} px wide; an embedding needs at least {self.settings.min_embed_face_px}"
        elif embed:
            vector = self.runtime.describe(aligned.chip, self.settings.embed_jitters)
            if self.settings.embed_flip:  # average with the mirror image: a measured pipeline option
                mirrored = np.ascontiguousarray(aligned.chip[:, ::-1])
                vector = ((vector + self.runtime.describe(mirrored, self.settings.embed_jitters)) / 2).astype(
                    np.float32
                )
            embedding = Embedding(vector=vector, model=self.model)
        return DetectedFace(
            index=number,
            box=spot.box,
            detector=detector,
            detector_score=score,
            rotation_deg=90 * spot.quarter_turns,
            landmarks=landmarks,
            quality=quality,
            embedding=embedding,
            not_embedded_reason=reason,
            chip=aligned.chip,
        )
