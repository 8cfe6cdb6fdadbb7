"""Matcher v2 evaluation on hand-made embeddings: fused scoring, strict JSON, the View 1-only fusion fit,
per-group calibration counts and the side-by-side report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine.fusion import FusionRule, ModelScale, fusion_rule_for
from faceledger.engine.models import recognition_model_identity
from faceledger.engine.onnx_models import SFACE
from faceledger.eval import calibration_build, fusion_fit
from faceledger.eval.compare import compare_report
from faceledger.eval.lfw import LfwImage, Pair
from faceledger.eval.lfw_errata import without_label_errors
from faceledger.eval.lfw_eval import group_rates, identify, verify
from faceledger.eval.operating import sanitise, strict_json
from faceledger.eval.report import LfwEvaluation
from faceledger.eval.scoring import PairScorer
from faceledger.types import Pipeline

RULE = FusionRule("test", "hand", (ModelScale("a@1#x", 0.8, 0.2, 0.7), ModelScale("b@1#y", 0.6, 0.1, 0.3)), 0.6, 0.2)


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def synthetic(
    people: int = 40, per_person: int = 3, dim: int = 128, seed: int = 0, noise: float = 0.15
) -> dict[LfwImage, np.ndarray]:
    """Identity centres on a sphere, images scattered around them; every third person has one image."""
    rng = np.random.default_rng(seed)
    result = {}
    for p in range(people):
        centre = rng.normal(size=dim)
        centre /= np.linalg.norm(centre)
        for n in range(1 if p % 3 == 0 else per_person):
            v = centre + noise * rng.normal(size=dim) / np.sqrt(dim)  # noise: the offset's typical length
            result[LfwImage(f"P{p:03d}", n + 1)] = (v / np.linalg.norm(v)).astype(np.float32)
    return result


def pairs_of(embeddings: dict[LfwImage, np.ndarray], folds: int = 2) -> list[Pair]:
    images = sorted(embeddings, key=lambda i: (i.person, i.number))
    by_person: dict[str, list[LfwImage]] = {}
    for image in images:
        by_person.setdefault(image.person, []).append(image)
    genuine = [Pair(v[0], v[1], 0) for v in by_person.values() if len(v) > 1]
    impostor = [
        Pair(images[i], images[-1 - i], 0) for i in range(len(genuine)) if images[i].person != images[-1 - i].person
    ]
    every = genuine + impostor
    return [Pair(p.first, p.second, i % folds) for i, p in enumerate(every)]


def test_fused_matrix_is_the_rules_distance_and_a_missing_model_is_left_out() -> None:
    a, b = synthetic(seed=1), synthetic(seed=1, noise=0.3)
    images = sorted(a, key=lambda i: (i.person, i.number))
    missing = images[:5]
    b = {image: v for image, v in b.items() if image not in missing}  # model b found no face in five images
    scorer = PairScorer({"a@1#x": a, "b@1#y": b}, RULE)
    matrix = scorer.matrix(images[:12], images)
    for i, first in enumerate(images[:12]):
        for j, second in enumerate(images):
            parts = {"a@1#x": float(np.linalg.norm(a[first].astype(np.float64) - a[second]))}
            if first in b and second in b:
                parts["b@1#y"] = float(np.linalg.norm(b[first].astype(np.float64) - b[second]))
            assert matrix[i, j] == pytest.approx(RULE.distance(parts), abs=1e-9)
            assert scorer.pair(first, second) == pytest.approx(RULE.distance(parts), abs=1e-9)
    only_b = PairScorer({"b@1#y": b})
    assert np.isnan(only_b.matrix(missing[:1], images)).all()  # no model scored: no distance


def test_fused_scorer_runs_verification_identification_and_groups() -> None:
    a, b = synthetic(seed=2), synthetic(seed=2, noise=0.25)
    scorer = PairScorer({"a@1#x": a, "b@1#y": b}, RULE)
    pairs = pairs_of(a)
    verification = verify(pairs, scorer)
    assert verification.pairs_without_face == 0 and verification.mean_accuracy > 0.9
    ident = identify(scorer, threshold=0.6)
    assert ident.rank1 > 0.9 and ident.gallery_size + ident.mated_probes + ident.nonmated_probes == len(a)
    groups = group_rates(scorer, {i: "all" for i in a}, "test", threshold=0.6)
    assert groups[0].people == 40 and len(groups[0].fmr_samples) > 0


def test_rule_search_ranks_as_the_product_index_does() -> None:
    """An identity rule (distance = the one model's) through the fused search path gives the ExactIndex's results."""
    hard = synthetic(seed=2, noise=1.2)
    identity_rule = FusionRule("id", "hand", (ModelScale("a@1#x", 0.0, 1.0, 1.0),), 0.0, 1.0)
    indexed, searched = identify(hard, 0.6), identify(PairScorer({"a@1#x": hard}, identity_rule), 0.6)
    assert 0.9 < indexed.rank1 < 1.0 and searched.rank1 == indexed.rank1 and searched.rank5 == indexed.rank5
    assert searched.fnir_at_fpir["0.01"][0] == indexed.fnir_at_fpir["0.01"][0] > 0
    assert searched.fpir_by_gallery_size == indexed.fpir_by_gallery_size


def test_label_errors_are_left_out_only_when_the_alias_is_in_the_gallery() -> None:
    probes = [LfwImage("Yingfan_Wang", 1), LfwImage("Prince_Felipe", 1), LfwImage("Someone_Else", 1)]
    assert without_label_errors(probes, {"Wang_Yingfan"}) == [False, True, True]


def test_the_photos_filed_under_two_names_are_label_errors() -> None:
    """The nearest non-mated probes of full LFW (the same photograph under two names; a full name and its
    short form) set the FPIR-0.1% threshold unless they are left out."""
    probes = [
        LfwImage("Eva_Amurri", 1),
        LfwImage("Andrew_Gilligan", 1),
        LfwImage("Mireya_Elisa_Moscoso_Rodriguez", 1),
        LfwImage("Isabela_Moraes", 1),
    ]
    gallery = {"Emmy_Rossum", "Andrew_Caldecott", "Mireya_Moscoso", "Carolina_Moraes"}
    assert without_label_errors(probes, gallery) == [False, False, False, True]  # twin sisters stay non-mated


def _evaluation(pipeline: Pipeline, seed: int) -> LfwEvaluation:
    embeddings = synthetic(seed=seed)
    labels = {i: ("even" if int(i.person[1:]) % 2 else "odd") for i in embeddings}
    labels |= {LfwImage("P999", 1): "empty"}  # a group with no image: NaN rates that JSON must carry as null
    groups = group_rates(embeddings, labels, "race", 0.6)
    return LfwEvaluation(
        Settings(pipeline=pipeline),
        verify(pairs_of(embeddings), embeddings),
        identify(embeddings, 0.6),
        groups,
        pipeline=pipeline,
        operating_threshold=0.6,
        threshold_source="test",
        reference_fmr=1e-3,
    )


def test_summary_is_strict_json_with_the_acceptance_keys() -> None:
    summary = _evaluation(Pipeline.DLIB, 3).summary()
    summary["probe"] = {"nan": float("nan"), "inf": float("inf"), "np": np.float64("nan")}
    parsed = strict_loads(strict_json(summary))
    assert parsed["probe"] == {"nan": None, "inf": None, "np": None}
    assert isinstance(parsed["verification"]["mean_accuracy"], float)
    assert set(parsed["verification"]["tar_at_far"]) >= {"0.001", "0.0001"}
    assert parsed["identification"]["rank1"] is not None
    assert set(parsed["identification"]["fnir_at_fpir"]) == {"0.01", "0.001"}
    assert set(parsed["identification"]["fnir_at_fpir_without_label_errors"]) == {"0.01", "0.001"}
    assert "group_fmr_worst_best_ratio" in parsed
    assert sanitise([math.nan, 1.5, (2, math.inf)]) == [None, 1.5, [2, None]]


def test_compare_two_pipelines(tmp_path: Path) -> None:
    report = compare_report([_evaluation(Pipeline.DLIB, 4), _evaluation(Pipeline.SFACE, 5)], tmp_path)
    parsed = strict_loads((tmp_path / "compare.json").read_text())
    assert [row["pipeline"] for row in parsed["pipelines"]] == ["dlib", "sface"]
    assert all(set(row["tar_at_far"]) == {"0.001", "0.0001"} for row in parsed["pipelines"])
    assert set(parsed["groups"]) == {"dlib", "sface"}
    assert (tmp_path / "roc.png").stat().st_size > 1000 and (tmp_path / "det.png").stat().st_size > 1000
    html = (tmp_path / "compare.html").read_text()
    assert "data:image/png;base64," in html and "sface" in html
    assert report["files"]["markdown"].endswith("compare.md")


def test_fusion_fit_reads_only_view1_training_pairs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = synthetic(people=60, seed=6), synthetic(people=60, seed=6, noise=0.3)
    pairs = pairs_of(a, folds=1) * 2  # >= 100 pairs per model
    read: list[Path] = []
    embedded: list[LfwImage] = []

    def fake_read_pairs(path: Path) -> list[Pair]:
        read.append(path)
        return pairs

    def fake_embed(images: list[LfwImage], *args: object, **kwargs: object) -> dict[str, dict[LfwImage, np.ndarray]]:
        embedded.extend(images)
        return {"sface@1#s": {i: a[i] for i in images}, "dlib_resnet@1#d": {i: b[i] for i in images}}

    monkeypatch.setattr(fusion_fit, "read_pairs", fake_read_pairs)
    monkeypatch.setattr(fusion_fit, "embed_lfw_models", fake_embed)
    out = tmp_path / "rule.json"
    assert fusion_fit.main(["--data", str(tmp_path), "--out", str(out), "--cache", str(tmp_path / "c.db")]) == 0
    assert read == [tmp_path / "pairsDevTrain.txt"]
    assert set(embedded) <= {p.first for p in pairs} | {p.second for p in pairs}
    rule = FusionRule.from_json(json.loads(out.read_text()))
    assert rule.model_keys == ("sface@1#s", "dlib_resnet@1#d")
    assert sum(m.weight for m in rule.models) == pytest.approx(1.0)
    assert rule.offset == pytest.approx(rule.models[1].mean) and rule.scale == pytest.approx(rule.models[1].std)
    assert "pairsDevTrain" in rule.fitted_on


def test_group_counts_by_hand(tmp_path: Path) -> None:
    labels = tmp_path / "lfw_labels"
    labels.mkdir()
    (labels / "male_names.txt").write_text("A_0001.jpg\nA_0002.jpg\nB_0001.jpg\n")
    (labels / "female_names.txt").write_text("C_0001.jpg\n")
    (labels / "lfw_race_dict.json").write_text(json.dumps({"A": "african", "B": "african", "C": "caucasian"}))

    def vec(x: float) -> np.ndarray:
        return np.array([x, 0.0], dtype=np.float32)

    embeddings = {
        LfwImage("A", 1): vec(0.0),
        LfwImage("A", 2): vec(0.25),
        LfwImage("B", 1): vec(0.75),
        LfwImage("C", 1): vec(2.0),
    }
    groups = {(g["attribute"], g["group"]): g for g in calibration_build.group_counts(embeddings, tmp_path, (0.5, 1.0))}
    african = groups[("race", "african")]
    assert (african["people"], african["impostor_pairs"], african["impostor_at_or_below"]) == (2, 2, [1, 2])
    assert groups[("race", "caucasian")]["impostor_pairs"] == 0
    assert groups[("gender", "male")]["impostor_pairs"] == 2 and groups[("gender", "female")]["people"] == 1


def test_fusion_rule_for_each_pipeline() -> None:
    assert fusion_rule_for(Pipeline.DLIB) is None and fusion_rule_for("sface") is None
    rule = fusion_rule_for(Pipeline.FUSED)  # the shipped rule, fitted on View 1 training pairs
    assert rule is not None and "pairsDevTrain" in rule.fitted_on
    assert set(rule.model_keys) == {SFACE.identity().key, recognition_model_identity().key}
    assert rule.distance({SFACE.identity().key: 0.2}) >= 0.0  # one model missing: scored with the other
    far = {SFACE.identity().key: 1.5, recognition_model_identity().key: 1.0}
    near = {SFACE.identity().key: 0.6, recognition_model_identity().key: 0.35}
    assert rule.distance(near) < 0.6 < rule.distance(far)  # on a dlib-like scale
