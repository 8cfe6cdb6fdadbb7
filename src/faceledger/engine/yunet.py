"""YuNet (OpenCV Zoo, 2023mar) on onnxruntime, decoded here as OpenCV's FaceDetectorYN decodes it.

The network runs on the whole image (padded at the right and bottom to a multiple of 32), or on a copy
scaled down to a pixel budget; for each stride (8, 16, 32) and grid cell it predicts a class and an
objectness score (the face score is their geometric mean), a box (centre offset and log size, in strides)
and five landmarks (right eye, left eye, nose tip, right and left mouth corner, as the person sees them:
the template order SFace aligns on). OpenCV feeds the BGR image as raw 0-255 floats, so this does too."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from faceledger.engine.budget import downscaled, fit_scale
from faceledger.engine.onnx_models import YUNET, load_session
from faceledger.engine.runtime import RawDetection
from faceledger.types import ModelIdentity, OnnxProvider, RGBImage

if TYPE_CHECKING:
    import onnxruntime as ort

STRIDES = (8, 16, 32)
_DIVISOR = 32
_MIN_SIDE_PX = 32  # YuNet's coarsest stride: smaller images are padded up to it


class YuNetDetector:
    """Face boxes with five landmarks; `detect` returns them in the coordinates of the given image."""

    def __init__(self, provider: OnnxProvider, threads: int) -> None:
        self._session: ort.InferenceSession = load_session(YUNET, provider, threads, dynamic_size=True)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.model: ModelIdentity = YUNET.identity()

    def detect(self, image: RGBImage, min_score: float, nms_iou: float, max_pixels: int) -> list[RawDetection]:
        """Every face scoring at least min_score, best first, after non-maximum suppression."""
        height, width = image.shape[:2]
        scale = fit_scale(width, height, max_pixels)
        small = downscaled(image, scale)
        hits = self.detect_at_full_size(small, min_score, nms_iou)
        if small.shape[:2] == image.shape[:2]:
            return hits
        factor_x, factor_y = width / small.shape[1], height / small.shape[0]
        return [_scaled(hit, factor_x, factor_y) for hit in hits]

    def detect_at_full_size(self, image: RGBImage, min_score: float, nms_iou: float) -> list[RawDetection]:
        height, width = image.shape[:2]
        padded_h = max(_MIN_SIDE_PX, math.ceil(height / _DIVISOR) * _DIVISOR)
        padded_w = max(_MIN_SIDE_PX, math.ceil(width / _DIVISOR) * _DIVISOR)
        blob = np.zeros((1, 3, padded_h, padded_w), dtype=np.float32)
        blob[0, :, :height, :width] = image[:, :, ::-1].transpose(2, 0, 1)  # RGB -> BGR, HWC -> CHW
        outputs = dict(zip(self._outputs, self._session.run(self._outputs, {self._input: blob}), strict=True))
        boxes, scores, points = decode(outputs, padded_h, padded_w, min_score)
        keep = nms(boxes, scores, nms_iou)
        return [_detection(boxes[i], float(scores[i]), points[i], width, height) for i in keep]


def decode(
    outputs: dict[str, np.ndarray], height: int, width: int, min_score: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2), scores and landmarks (5 x 2) of every cell scoring at least min_score."""
    all_boxes, all_scores, all_points = [], [], []
    for stride in STRIDES:
        cols = width // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        score = np.sqrt(cls * obj)
        chosen = np.flatnonzero(score >= min_score)
        if chosen.size == 0:
            continue
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)[chosen]
        kps = outputs[f"kps_{stride}"].reshape(-1, 10)[chosen]
        col = (chosen % cols).astype(np.float32)
        row = (chosen // cols).astype(np.float32)
        cx, cy = (col + bbox[:, 0]) * stride, (row + bbox[:, 1]) * stride
        w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        all_boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        all_scores.append(score[chosen])
        xs = (kps[:, 0::2] + col[:, None]) * stride
        ys = (kps[:, 1::2] + row[:, None]) * stride
        all_points.append(np.stack([xs, ys], axis=2))
    if not all_boxes:
        return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
    return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_points)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression, best score first; the indices kept."""
    order = np.argsort(-scores, kind="stable")
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = areas[best] + areas[rest] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[iou <= iou_threshold]
    return keep


def _detection(box: np.ndarray, score: float, points: np.ndarray, width: int, height: int) -> RawDetection:
    """A RawDetection clipped to the image (right/bottom inclusive, as dlib's are)."""
    left = int(np.clip(np.floor(box[0]), 0, width - 1))
    top = int(np.clip(np.floor(box[1]), 0, height - 1))
    right = int(np.clip(np.ceil(box[2]) - 1, left, width - 1))
    bottom = int(np.clip(np.ceil(box[3]) - 1, top, height - 1))
    landmarks = tuple((float(x), float(y)) for x, y in points)
    return RawDetection(left, top, right, bottom, score, landmarks5=landmarks)


def _scaled(hit: RawDetection, factor_x: float, factor_y: float) -> RawDetection:
    """A hit on a scaled copy in the original's coordinates: the box and the landmarks."""
    points = None
    if hit.landmarks5 is not None:
        points = tuple((x * factor_x, y * factor_y) for x, y in hit.landmarks5)
    return RawDetection(
        round(hit.left * factor_x),
        round(hit.top * factor_y),
        round((hit.right + 1) * factor_x) - 1,
        round((hit.bottom + 1) * factor_y) - 1,
        hit.score,
        landmarks5=points,
    )
