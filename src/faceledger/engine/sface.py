"""SFace (OpenCV Zoo, 2021dec) on onnxruntime: five points -> the 112 px template chip -> a unit vector.

The chip is the least-squares similarity (Umeyama) of the five landmarks onto the ArcFace template,
which is what OpenCV's `alignCrop` computes, warped bilinearly with numpy. SFace normalises inside the
graph: it reads raw 0-255 floats in RGB order (BGR costs 0.25 pt on LFW, docs/DEPENDENCIES.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from faceledger.engine.onnx_models import SFACE, load_session
from faceledger.types import FloatVector, ModelIdentity, OnnxProvider, RGBImage

if TYPE_CHECKING:
    import onnxruntime as ort

CHIP_SIZE_PX = 112
EMBEDDING_DIM = 128
# Right eye, left eye, nose tip, right and left mouth corner (as the person sees them) in the 112 px chip.
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
Points = Sequence[tuple[float, float]]
Matrix = npt.NDArray[np.float64]


def similarity_transform(source: Points, target: Points | np.ndarray = TEMPLATE) -> Matrix:
    """The 2x3 matrix of the rotation, uniform scale and translation that maps `source` onto `target`
    with the least squared error (Umeyama 1991, without reflection)."""
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    variance = float((src_c**2).sum() / len(src))
    scale = float(np.trace(np.diag(singular) @ sign) / variance) if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def apply_transform(matrix: Matrix, points: Points) -> Matrix:
    pts = np.asarray(points, dtype=np.float64)
    return np.asarray(pts @ matrix[:, :2].T + matrix[:, 2])


def warp_affine(image: RGBImage, matrix: Matrix, size: int) -> RGBImage:
    """The size x size chip whose pixel (x, y) is the image at matrix^-1 (x, y), bilinear, black outside."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    src_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    src_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    height, width = image.shape[:2]
    x0, y0 = np.floor(src_x).astype(np.int64), np.floor(src_y).astype(np.int64)
    fx, fy = (src_x - x0)[..., None], (src_y - y0)[..., None]
    padded = np.zeros((height + 2, width + 2, image.shape[2]), dtype=np.float64)
    padded[1:-1, 1:-1] = image
    # Indices into the padded image: one pixel of black border on each side, clipped beyond it.
    xa, xb = np.clip(x0 + 1, 0, width + 1), np.clip(x0 + 2, 0, width + 1)
    ya, yb = np.clip(y0 + 1, 0, height + 1), np.clip(y0 + 2, 0, height + 1)
    top = padded[ya, xa] * (1 - fx) + padded[ya, xb] * fx
    bottom = padded[yb, xa] * (1 - fx) + padded[yb, xb] * fx
    chip = top * (1 - fy) + bottom * fy
    return np.ascontiguousarray(np.clip(np.rint(chip), 0, 255).astype(np.uint8))


def align(image: RGBImage, landmarks5: Points) -> RGBImage:
    """The 112 px template chip of the face whose five points are given (image coordinates)."""
    return warp_affine(image, similarity_transform(landmarks5), CHIP_SIZE_PX)


class SFaceEmbedder:
    """Unit-norm 128-d vectors from template chips, all chips of one call in one onnxruntime batch."""

    def __init__(self, provider: OnnxProvider, threads: int) -> None:
        self._session: ort.InferenceSession = load_session(SFACE, provider, threads, dynamic_batch=True)
        self._input = self._session.get_inputs()[0].name
        self.model: ModelIdentity = SFACE.identity()

    def embed(self, chips: Sequence[RGBImage], *, flip: bool) -> list[FloatVector]:
        """One unit vector per chip; with flip, the normalised sum of the chip's and its mirror's."""
        if not chips:
            return []
        stack = np.stack([np.asarray(chip, dtype=np.float32) for chip in chips])  # N x 112 x 112 x 3, RGB
        if flip:
            stack = np.concatenate([stack, stack[:, :, ::-1]])
        raw = self._session.run(None, {self._input: np.ascontiguousarray(stack.transpose(0, 3, 1, 2))})[0]
        vectors = _unit(np.asarray(raw, dtype=np.float32))
        if flip:
            vectors = _unit(vectors[: len(chips)] + vectors[len(chips) :])
        return [np.ascontiguousarray(v, dtype=np.float32) for v in vectors]


def _unit(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
