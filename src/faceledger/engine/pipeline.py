"""The face engine: pixels -> faces -> embeddings. `load()` once, then `analyse()` per image.
It knows nothing of cases, galleries or databases."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.engine.detection import Located, locate_faces, rotate, to_original
from faceledger.engine.image_input import ImageLimits, LoadedImage, load_image
from faceledger.engine.models import model_files
from faceledger.engine.quality import assess_quality
from faceledger.engine.runtime import DlibRuntime, FaceRuntime, RawDetection
from faceledger.errors import InvalidInput
from faceledger.types import Box, Detector, Embedding, Face, ImageFaces, ModelIdentity


class FaceEngine:
    def __init__(self, settings: Settings, runtime: FaceRuntime | None = None) -> None:
        self.settings = settings
        self._runtime = runtime

    def load(self) -> FaceEngine:
        """Load the models now (they load on first use otherwise); returns self for chaining."""
        _ = self.runtime
        return self

    @property
    def runtime(self) -> FaceRuntime:
        if self._runtime is None:
            self._runtime = DlibRuntime(model_files(), self.settings.descriptor_runtime)
        return self._runtime

    @property
    def model(self) -> ModelIdentity:
        return self.runtime.model

    @property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_image_bytes, max_pixels=self.settings.max_image_pixels)

    def load_image(self, path: Path) -> LoadedImage:
        return load_image(path, self.limits)

    def analyse(self, image: LoadedImage, detector: Detector | None = None, *, embed: bool = True) -> ImageFaces:
        """Detect every face, then landmarks, quality and (when large enough) an embedding for each."""
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

    def analyse_box(self, image: LoadedImage, box: Box, *, embed: bool = True) -> Face:
        """Describe the face in a box a person chose (or another detector found): no detection is run."""
        height, width = image.pixels.shape[:2]
        if box.width <= 0 or box.height <= 0 or box.right <= 0 or box.bottom <= 0:
            raise InvalidInput(f"{image.info.name}: the box {box.to_dict()} is empty")
        if box.left >= width or box.top >= height:
            raise InvalidInput(f"{image.info.name}: the box {box.to_dict()} lies outside the {width}x{height} image")
        raw = RawDetection(box.left, box.top, box.right - 1, box.bottom - 1, score=0.0)
        return self._describe(image, Located(raw, 0, box), 1, None, embed)

    def _describe(self, image: LoadedImage, spot: Located, number: int, detector: Detector | None, embed: bool) -> Face:
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
        return Face(
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
