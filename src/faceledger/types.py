"""Value types shared by every layer. Plain frozen dataclasses and enums; no behaviour beyond
small derived properties, and no imports from the rest of the package."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatVector = npt.NDArray[np.float32]
RGBImage = npt.NDArray[np.uint8]


class Detector(enum.StrEnum):
    """Face detectors. HOG is fast on a CPU; CNN (dlib's MMOD) finds harder faces but is ~20x slower."""

    HOG = "hog"
    CNN = "cnn"
    YUNET = "yunet"  # OpenCV Zoo's YuNet on onnxruntime: fast, and it gives the 5 points SFace aligns on


class Pipeline(enum.StrEnum):
    """A detector plus one or more embedders. Each embedder's vectors are only compared with its own."""

    DLIB = "dlib"  # HOG (CNN on a miss) -> dlib ResNet on dlib's 150 px chip
    SFACE = "sface"  # YuNet -> SFace on the 112 px five-point template
    FUSED = "fused"  # YuNet -> SFace and dlib ResNet; scores fused by a rule fitted on LFW View 1
    OPERATOR = "operator"  # YuNet -> an operator-added model (Settings.operator_model) on the 112 px template


# The pipelines whose weights ship with the package (OPERATOR needs a deployment's added model).
BUILTIN_PIPELINES = (Pipeline.DLIB, Pipeline.SFACE, Pipeline.FUSED)


class ThresholdMode(enum.StrEnum):
    """How a search's threshold is set: derived from the promised false-candidate rate, or fixed by hand."""

    DERIVED = "derived"  # from target_fpir, the gallery size and the worst group's measured FMR
    FIXED = "fixed"  # Settings.match_threshold, whatever it promises (the promise is still reported)


class DescriptorRuntime(enum.StrEnum):
    """What runs the ResNet: numpy's BLAS (same weights, ~5x faster) or dlib's own code (the reference)."""

    NUMPY = "numpy"
    DLIB = "dlib"


class IndexBackend(enum.StrEnum):
    """Vector index backends; the database is the truth and any of them can be rebuilt from it."""

    EXACT = "exact"  # numpy brute force: the oracle, fine to ~100k faces
    FAISS = "faiss"  # FAISS: exact below a size, then IVF-Flat; files in the data directory
    MILVUS = "milvus"  # Milvus by URI (Milvus Lite in a file for tests and small sites)


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SearchOutcome(enum.StrEnum):
    """What a governed search that was done found (a refused one is a refusal on the ledger, not a search)."""

    CANDIDATES = "candidates"
    NO_CANDIDATES = "no_candidates"


class IngestJobStatus(enum.StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # its process died or was stopped; running the ingest again resumes it


class Likelihood(enum.StrEnum):
    """How a distance relates to the operating threshold. Never an identification."""

    LIKELY_SAME = "likely the same person"
    INCONCLUSIVE = "inconclusive"
    LIKELY_DIFFERENT = "likely different people"


@dataclass(frozen=True)
class Box:
    """A face box in image pixels; right and bottom are exclusive."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def area(self) -> int:
        return max(0, self.width) * max(0, self.height)

    def iou(self, other: Box) -> float:
        """Intersection over union, used to merge duplicate detections."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        inter = max(0, right - left) * max(0, bottom - top)
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def to_dict(self) -> dict[str, int]:
        return {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom}


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made an embedding. Embeddings are only ever compared within one identity."""

    name: str
    version: str
    weights_sha256: str

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}#{self.weights_sha256[:12]}"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version, "weights_sha256": self.weights_sha256}


@dataclass(frozen=True)
class Embedding:
    vector: FloatVector
    model: ModelIdentity


@dataclass(frozen=True)
class QualityCheck:
    """One measured property of a face against its threshold, with a sentence a person can read."""

    name: str
    value: float
    passed: bool
    score: float  # 0..1; 0.5 is the pass mark
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": round(self.value, 4),
            "passed": self.passed,
            "score": round(self.score, 3),
            "message": self.message,
        }


@dataclass(frozen=True)
class Quality:
    """Quality of one face. `score` is the weakest check's score, so it is >= 0.5 exactly when all pass."""

    checks: tuple[QualityCheck, ...]

    @property
    def score(self) -> float:
        return min((c.score for c in self.checks), default=0.0)

    @property
    def acceptable(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def problems(self) -> list[str]:
        return [c.message for c in self.checks if not c.passed]

    @property
    def reasons(self) -> list[str]:
        return [("ok: " if c.passed else "low: ") + c.message for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 3),
            "acceptable": self.acceptable,
            "problems": self.problems,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class DetectedFace:
    """One detected face: where it is, how good it is and, when it is large enough, its embedding."""

    index: int
    box: Box
    detector: Detector | None  # None: the box was chosen by a person, not found by a detector
    detector_score: float
    rotation_deg: int
    landmarks: tuple[tuple[float, float], ...]
    quality: Quality
    embedding: Embedding | None  # the pipeline's first model's: the one a single-model caller reads
    not_embedded_reason: str | None = None
    chip: RGBImage | None = field(default=None, repr=False, compare=False)  # aligned face (thumbnails, quality)
    # The other models' embeddings of the same face, in the pipeline's order (fused: SFace, then dlib).
    extra_embeddings: tuple[Embedding, ...] = ()

    @property
    def embeddings(self) -> tuple[Embedding, ...]:
        """Every model's embedding of this face, the first model's first; empty when not embedded."""
        return () if self.embedding is None else (self.embedding, *self.extra_embeddings)

    def to_dict(self, *, with_embedding: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "box": self.box.to_dict(),
            "width_px": self.box.width,
            "height_px": self.box.height,
            "detector": self.detector.value if self.detector else "chosen by a person",
            "detector_score": round(self.detector_score, 4),
            "rotation_deg": self.rotation_deg,
            "landmarks": [[round(x, 1), round(y, 1)] for x, y in self.landmarks],
            "quality": self.quality.to_dict(),
            "embedded": self.embedding is not None,
            "not_embedded_reason": self.not_embedded_reason,
        }
        if with_embedding and self.embedding is not None:
            data["embedding"] = [float(v) for v in self.embedding.vector]
            data["model"] = self.embedding.model.to_dict()
        return data


@dataclass(frozen=True)
class ImageInfo:
    """What the loader learnt about an image file before and while decoding it."""

    name: str
    format: str
    width: int
    height: int
    original_mode: str
    exif_orientation: int
    sha256: str


@dataclass(frozen=True)
class ImageFaces:
    image: ImageInfo
    faces: tuple[DetectedFace, ...] = field(default_factory=tuple)
    detector_settings: dict[str, Any] = field(default_factory=dict)


class OnnxProvider(enum.StrEnum):
    """Where onnxruntime runs YuNet and SFace: CUDA when onnxruntime-gpu offers it (auto), or forced."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class ColourOrder(enum.StrEnum):
    """The channel order an operator-added recognizer reads."""

    RGB = "rgb"
    BGR = "bgr"


class PixelScale(enum.StrEnum):
    """How an operator-added recognizer wants pixel values (ArcFace/AdaFace exports use symmetric)."""

    RAW = "raw"  # 0..255, as SFace (normalises inside the graph)
    UNIT = "unit"  # 0..1
    SYMMETRIC = "symmetric"  # (x - 127.5) / 127.5, -1..1 (insightface-style ArcFace, AdaFace)


class YesNo(enum.StrEnum):
    YES = "yes"
    NO = "no"
