"""A larger check on real faces: LFW View 1 test pairs (pairsDevTest.txt), none of which the shipped
calibration table was measured on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine.distance import euclidean
from faceledger.eval.calibration_build import build_table, impostor_distances
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import LfwImage, Pair, images_of, read_pairs
from faceledger.types import ModelIdentity, Pipeline

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def test_pairs_files_parse(data_dir: Path) -> None:
    view2 = read_pairs(data_dir / "pairs.txt")
    assert len(view2) == 6000 and {p.fold for p in view2} == set(range(10))
    assert sum(p.same_person for p in view2) == 3000
    train = read_pairs(data_dir / "pairsDevTrain.txt")
    assert len(train) == 2200 and sum(p.same_person for p in train) == 1100
    assert all(p.first.path(data_dir).is_file() and p.second.path(data_dir).is_file() for p in train)


def test_view1_test_pairs_accuracy_at_the_default_threshold(data_dir: Path, lfw_embedding_cache: Path) -> None:
    pairs = read_pairs(data_dir / "pairsDevTest.txt")
    sample = pairs[:150] + pairs[500:650]  # 150 matched + 150 mismatched
    cache = EmbeddingCache(lfw_embedding_cache)  # these images are View 1 test images: embedded once a run
    embeddings = embed_lfw(images_of(sample), data_dir, Settings(pipeline=Pipeline.DLIB), cache, workers=2)
    scored = [
        (p, euclidean(embeddings[p.first], embeddings[p.second]))
        for p in sample
        if p.first in embeddings and p.second in embeddings
    ]
    assert len(scored) >= 0.95 * len(sample), "a face is found in nearly every LFW image"
    correct = sum((distance < 0.6) == pair.same_person for pair, distance in scored)
    assert correct / len(scored) >= 0.96


def test_build_table_counts_by_hand() -> None:
    def vec(x: float) -> np.ndarray:
        v = np.zeros(128, dtype=np.float32)
        v[0] = x
        return v

    a1, a2, b1 = LfwImage("A", 1), LfwImage("A", 2), LfwImage("B", 1)
    embeddings = {a1: vec(0.0), a2: vec(0.25), b1: vec(0.75)}  # exact in binary floating point
    assert list(impostor_distances(embeddings)) == [0.5, 0.75]  # a2-b1, a1-b1; a1-a2 is genuine
    table = build_table([Pair(a1, a2, 0)], embeddings, ModelIdentity("m", "1", "0" * 64), "hand")
    assert table.impostor_pairs == 2 and table.genuine_pairs == 1
    assert table.false_match(0.45).observed == 0
    assert table.false_match(0.5).observed == 1
    assert table.false_match(0.75).observed == 2
    assert table.false_non_match_rate(0.2) == 1.0
    assert table.false_non_match_rate(0.25) == 0.0
