"""The shipped table's false-match rate at the default threshold, checked on people it never saw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine.calibration import load_calibration
from faceledger.engine.distance import pairwise_euclidean
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import images_of, read_pairs
from faceledger.eval.metrics import people_bootstrap_interval
from faceledger.types import Pipeline

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def test_table_fmr_at_the_threshold_holds_on_fresh_impostors(data_dir: Path, lfw_embedding_cache: Path) -> None:
    settings = Settings(pipeline=Pipeline.DLIB)  # the shipped dlib table (each pipeline has its own test)
    table = load_calibration()
    fresh = images_of(read_pairs(data_dir / "pairsDevTest.txt"))  # View 1 test: other people than the table's
    trained_on = {image.person for image in images_of(read_pairs(data_dir / "pairsDevTrain.txt"))}
    assert not {image.person for image in fresh} & trained_on
    embeddings = embed_lfw(fresh, data_dir, settings, EmbeddingCache(lfw_embedding_cache), workers=2)
    images = list(embeddings)
    people = sorted({image.person for image in images})
    owner = np.array([people.index(image.person) for image in images])
    distances = pairwise_euclidean(np.stack([embeddings[i] for i in images]))
    upper = np.triu(np.ones_like(distances, dtype=bool), k=1) & (owner[:, None] != owner[None, :])
    errors = np.zeros((len(people), len(people)))
    trials = np.zeros((len(people), len(people)))
    rows, cols = np.nonzero(upper)
    np.add.at(trials, (owner[rows], owner[cols]), 1)
    np.add.at(errors, (owner[rows], owner[cols]), distances[rows, cols] <= settings.match_threshold)
    fresh_rate = errors.sum() / trials.sum()
    low, high = people_bootstrap_interval(errors + errors.T, trials + trials.T)
    shipped = table.false_match(settings.match_threshold).rate
    print(f"fresh FMR {fresh_rate:.5f} [{low:.5f}, {high:.5f}] over {int(trials.sum()):,} pairs; table {shipped:.5f}")
    assert trials.sum() > 100_000
    assert low <= shipped <= high
