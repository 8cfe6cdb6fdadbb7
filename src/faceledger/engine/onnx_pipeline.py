"""The sface and fused pipelines: YuNet finds faces and their five points, SFace embeds the template chip,
and (fused) dlib's ResNet embeds the same face from its own chip. Boxes found by dlib's detectors, or
chosen by a person, get their five points from YuNet run on a padded crop around the box."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from faceledger.config import Settings
from faceledger.engine.detection import Located, _box_in_original, _merge_duplicates, rotate, to_original
from faceledger.engine.image_input import LoadedImage
from faceledger.engine.quality import assess_quality
from faceledger.engine.runtime import RawDetection
from faceledger.engine.sface import CHIP_SIZE_PX
from faceledger.engine.stages import FaceEmbedder, Spot, YuNetStage
from faceledger.engine.yunet import YuNetDetector
from faceledger.types import Box, DetectedFace, Detector, Embedding, ImageFaces, RGBImage

# A box someone (or another detector) vouches for: the crop YuNet reads around it, and the weaker score
# it may find the face with there (the five points are what is wanted, not a second opinion on the box).
_BOX_CROP_MARGIN = 0.5  # of the box's larger side, on every side
_BOX_MIN_SCORE = 0.3
NO_POINTS_REASON = "no five face landmarks in the box (YuNet found no face there); SFace aligns on them"


@dataclass(frozen=True)
class _Candidate:
    located: Located
    yunet_box: bool  # the box is YuNet's (dlib reads it after mapping to HOG's convention)


class OnnxAnalysis:
    """One analysis with the given YuNet and embedders (the first is Face.embedding, the rest extra)."""

    def __init__(self, settings: Settings, yunet: YuNetDetector, embedders: tuple[FaceEmbedder, ...]) -> None:
        self.settings = settings
        self.yunet = yunet
        self.stage = YuNetStage(yunet, settings)
        self.embedders = embedders

    def locate(self, pixels: RGBImage) -> tuple[list[Located], dict[str, object]]:
        """YuNet's faces, duplicates across rotations merged, ordered left to right."""
        height, width = pixels.shape[:2]
        turns = (0, 1, 2, 3) if self.settings.rotation_search else (0,)
        found: list[Located] = []
        for k in turns:
            hits = self.stage.detect(rotate(pixels, k))
            found.extend(Located(hit, k, _box_in_original(hit, k, width, height)) for hit in hits)
        kept = _merge_duplicates(found)
        kept.sort(key=lambda located: (located.box.left + located.box.right, located.box.top))
        s = self.settings
        used: dict[str, object] = {
            "detector": Detector.YUNET.value,
            "min_score": s.yunet_min_score,
            "nms_iou": s.yunet_nms_iou,
            "rotation_search": s.rotation_search,
        }
        if height * width > s.yunet_max_pixels:
            used["scaled_to_pixels"] = s.yunet_max_pixels
        return kept, used

    def analyse_located(
        self, image: LoadedImage, located: list[Located], detector: Detector, used: dict[str, object], embed: bool
    ) -> ImageFaces:
        """Faces from located boxes; boxes without five points (dlib's detectors) get them from YuNet."""
        candidates = []
        for found in located:
            spot = found
            if spot.detection.landmarks5 is None:
                turned = rotate(image.pixels, spot.quarter_turns)
                spot = replace(spot, detection=self.points_for_box(turned, spot.detection))
            candidates.append(_Candidate(spot, yunet_box=detector is Detector.YUNET))
        faces = self._describe(image, candidates, detector, embed)
        return ImageFaces(image=image.info, faces=faces, detector_settings=used)

    def analyse_box(self, image: LoadedImage, raw: RawDetection, box: Box, embed: bool) -> DetectedFace:
        detection = self.points_for_box(image.pixels, raw)
        return self._describe(image, [_Candidate(Located(detection, 0, box), yunet_box=False)], None, embed)[0]

    def points_for_box(self, pixels: RGBImage, raw: RawDetection) -> RawDetection:
        """The box with YuNet's five points for the face in it, or unchanged (no points) when none is found."""
        height, width = pixels.shape[:2]
        side = max(raw.right - raw.left + 1, raw.bottom - raw.top + 1)
        margin = round(_BOX_CROP_MARGIN * side)
        x0, y0 = max(0, raw.left - margin), max(0, raw.top - margin)
        x1, y1 = min(width, raw.right + 1 + margin), min(height, raw.bottom + 1 + margin)
        if x1 <= x0 or y1 <= y0:
            return raw
        crop = np.ascontiguousarray(pixels[y0:y1, x0:x1])
        s = self.settings
        hits = self.yunet.detect(crop, min(_BOX_MIN_SCORE, s.yunet_min_score), s.yunet_nms_iou, s.yunet_max_pixels)
        box = Box(raw.left - x0, raw.top - y0, raw.right + 1 - x0, raw.bottom + 1 - y0)
        inside = [h for h in hits if _centre_inside(h, box)]
        if not inside:
            return raw
        best = max(inside, key=lambda h: Box(h.left, h.top, h.right + 1, h.bottom + 1).iou(box))
        assert best.landmarks5 is not None
        points = tuple((x + x0, y + y0) for x, y in best.landmarks5)
        return replace(raw, landmarks5=points)

    def _describe(
        self, image: LoadedImage, candidates: list[_Candidate], detector: Detector | None, embed: bool
    ) -> tuple[DetectedFace, ...]:
        height, width = image.pixels.shape[:2]
        turned: dict[int, RGBImage] = {}
        spots, chips, wanted, reasons = [], [], [], []
        for candidate in candidates:
            k, detection = candidate.located.quarter_turns, candidate.located.detection
            upright = turned.setdefault(k, rotate(image.pixels, k))
            spot = Spot(upright, detection, candidate.yunet_box)
            spots.append(spot)
            size = min(candidate.located.box.width, candidate.located.box.height)
            reason = None
            if detection.landmarks5 is None:
                reason = NO_POINTS_REASON
                chips.append(_box_chip(upright, detection))
            else:
                chips.append(self.embedders[0].chips([spot])[0])
                if size < self.settings.min_embed_face_px:
                    reason = f"face {size} px wide; an embedding needs at least {self.settings.min_embed_face_px}"
            reasons.append(reason)
            wanted.append(embed and reason is None)
        chosen = [n for n, yes in enumerate(wanted) if yes]
        vectors: dict[int, list[Embedding]] = {n: [] for n in chosen}
        for number, embedder in enumerate(self.embedders):
            their_chips = [chips[n] for n in chosen] if number == 0 else embedder.chips([spots[n] for n in chosen])
            for n, vector in zip(chosen, embedder.vectors(their_chips), strict=True):
                vectors[n].append(Embedding(vector=vector, model=embedder.model))
        faces = []
        for n, candidate in enumerate(candidates):
            located = candidate.located
            points = located.detection.landmarks5 or ()
            landmarks = tuple(to_original(x, y, located.quarter_turns, width, height) for x, y in points)
            score = located.detection.score
            quality = assess_quality(
                located.box, detector, score, landmarks, chips[n], self.settings, template_points=True
            )
            embeddings = vectors.get(n, [])
            faces.append(
                DetectedFace(
                    index=n + 1,
                    box=located.box,
                    detector=detector,
                    detector_score=score,
                    rotation_deg=90 * located.quarter_turns,
                    landmarks=landmarks,
                    quality=quality,
                    embedding=embeddings[0] if embeddings else None,
                    not_embedded_reason=reasons[n],
                    chip=chips[n],
                    extra_embeddings=tuple(embeddings[1:]),
                )
            )
        return tuple(faces)


def _centre_inside(hit: RawDetection, box: Box) -> bool:
    cx, cy = (hit.left + hit.right + 1) / 2, (hit.top + hit.bottom + 1) / 2
    return box.left <= cx <= box.right and box.top <= cy <= box.bottom


def _box_chip(pixels: RGBImage, detection: RawDetection) -> RGBImage:
    """The box scaled to the template chip's size: what quality judges when there are no five points."""
    height, width = pixels.shape[:2]
    left, top = max(0, detection.left), max(0, detection.top)
    right, bottom = min(width, detection.right + 1), min(height, detection.bottom + 1)
    if right <= left or bottom <= top:
        return np.zeros((CHIP_SIZE_PX, CHIP_SIZE_PX, 3), dtype=np.uint8)
    crop = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right]))
    resized = crop.resize((CHIP_SIZE_PX, CHIP_SIZE_PX), Image.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8))
