"""Distances between embeddings of one model. Raw Euclidean, as dlib trained it: descriptors are not
unit length (norm ~1.41-1.46), and normalising would move every threshold."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceledger.errors import ModelMismatch
from faceledger.types import Embedding


def euclidean(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def embedding_distance(a: Embedding, b: Embedding) -> float:
    if a.model != b.model:
        raise ModelMismatch(f"cannot compare an embedding of {a.model.key} with one of {b.model.key}")
    return euclidean(a.vector, b.vector)


def pairwise_euclidean(vectors: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """All-pairs distance matrix (n x n), computed in float64 to keep small distances exact."""
    x = np.asarray(vectors, dtype=np.float64)
    squared = (x * x).sum(axis=1)
    gram = squared[:, None] + squared[None, :] - 2.0 * (x @ x.T)
    result: npt.NDArray[np.float64] = np.sqrt(np.maximum(gram, 0.0))
    return result
