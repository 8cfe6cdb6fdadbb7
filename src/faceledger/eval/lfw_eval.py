"""LFW evaluation: verification (View 2, 10 folds), identification (closed and open set) and error
rates per demographic group at the operating threshold."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceledger.engine.distance import euclidean
from faceledger.eval.lfw import LfwImage, Pair
from faceledger.eval.lfw_errata import without_label_errors
from faceledger.eval.metrics import (
    Rate,
    equal_error_rate,
    fnir_at_fpir,
    fpir_at,
    kfold_accuracy,
    people_bootstrap_interval,
    people_bootstrap_rates,
    rank_k,
    roc,
    tar_at_far,
)
from faceledger.eval.scoring import PairScorer
from faceledger.index.exact import ExactIndex

Embeddings = dict[LfwImage, np.ndarray]
Scored = Embeddings | PairScorer
FARS = (1e-1, 1e-2, 1e-3, 1e-4)
NO_FACE_DISTANCE = 10.0  # beyond every pipeline's scale: a pair without a face never matches


def as_scorer(scored: Scored) -> PairScorer:
    return scored if isinstance(scored, PairScorer) else PairScorer.single(scored)


FPIRS = (1e-2, 1e-3)


@dataclass
class Verification:
    folds: list[tuple[float, float]]
    pairs_used: int
    pairs_without_face: int
    tar_at_far: dict[str, tuple[float, float]]
    eer: float
    roc_far: np.ndarray = field(repr=False)
    roc_tar: np.ndarray = field(repr=False)

    @property
    def mean_accuracy(self) -> float:
        return float(np.mean([accuracy for _, accuracy in self.folds]))

    @property
    def std_accuracy(self) -> float:
        return float(np.std([accuracy for _, accuracy in self.folds]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean_accuracy": round(self.mean_accuracy, 4),
            "std_accuracy": round(self.std_accuracy, 4),
            "folds": [{"threshold": round(t, 4), "accuracy": round(a, 4)} for t, a in self.folds],
            "pairs_used": self.pairs_used,
            "pairs_without_face": self.pairs_without_face,
            "tar_at_far": {
                k: {"tar": round(t, 4), "threshold": round(th, 4)} for k, (t, th) in self.tar_at_far.items()
            },
            "eer": round(self.eer, 4),
        }


def verify(pairs: Sequence[Pair], embeddings: Scored, fallback_threshold: float = 0.6) -> Verification:
    """Pairs whose images have no usable face count as errors at every threshold: they are scored at
    distance 10 (never a match), so a missed face is a false non-match, not a pair quietly dropped.
    `fallback_threshold`: the threshold when only one fold is scored (no other folds to choose it on)."""
    distances, same, folds = [], [], []
    missing = 0
    scorer = as_scorer(embeddings)
    only = scorer.only
    for pair in pairs:
        if only is not None:
            a, b = only.get(pair.first), only.get(pair.second)
            distance = euclidean(a, b) if a is not None and b is not None else None
        else:
            distance = scorer.pair(pair.first, pair.second)
        if distance is None:
            missing += 1
        distances.append(NO_FACE_DISTANCE if distance is None else distance)
        same.append(pair.same_person)
        folds.append(pair.fold)
    _, far, tar = roc(distances, same)
    return Verification(
        folds=kfold_accuracy(distances, same, folds, fallback_threshold),
        pairs_used=len(pairs) - missing,
        pairs_without_face=missing,
        tar_at_far={f"{target:g}": tar_at_far(distances, same, target) for target in FARS},
        eer=equal_error_rate(distances, same),
        roc_far=far,
        roc_tar=tar,
    )


@dataclass
class Identification:
    gallery_size: int
    mated_probes: int
    nonmated_probes: int
    rank1: float
    rank5: float
    fnir_at_fpir: dict[str, tuple[float, float]]
    fpir_at_threshold: float
    fpir_by_gallery_size: list[tuple[int, float]]
    det_fpir: np.ndarray = field(repr=False)
    det_fnir: np.ndarray = field(repr=False)
    fnir_at_fpir_without_label_errors: dict[str, tuple[float, float]] = field(default_factory=dict)
    label_error_probes: int = 0  # non-mated probes that are someone in the gallery under another name

    def to_dict(self) -> dict[str, Any]:
        return {
            "gallery_size": self.gallery_size,
            "mated_probes": self.mated_probes,
            "nonmated_probes": self.nonmated_probes,
            "rank1": round(self.rank1, 4),
            "rank5": round(self.rank5, 4),
            "fnir_at_fpir": {
                k: {"fnir": round(f, 4), "threshold": round(t, 4)} for k, (f, t) in self.fnir_at_fpir.items()
            },
            "fnir_at_fpir_without_label_errors": {
                k: {"fnir": round(f, 4), "threshold": round(t, 4)}
                for k, (f, t) in self.fnir_at_fpir_without_label_errors.items()
            },
            "label_error_probes": self.label_error_probes,
            "fpir_at_operating_threshold": round(self.fpir_at_threshold, 4),
            "fpir_by_gallery_size": [{"gallery_size": n, "fpir": round(f, 4)} for n, f in self.fpir_by_gallery_size],
        }


def identify(embeddings: Scored, threshold: float, seed: int = 0) -> Identification:
    """Gallery: the first usable image of each person with 2+; their other images are mated probes.
    People with one image: alternately distractors in the gallery and non-mated probes."""
    scorer = as_scorer(embeddings)
    by_person: dict[str, list[LfwImage]] = defaultdict(list)
    for image in scorer.images:
        by_person[image.person].append(image)
    gallery: list[LfwImage] = []
    mated: list[LfwImage] = []
    nonmated: list[LfwImage] = []
    singles = 0
    for images in by_person.values():
        if len(images) >= 2:
            gallery.append(images[0])
            mated.extend(images[1:])
        else:
            (nonmated if singles % 2 else gallery).append(images[0])
            singles += 1
    people = np.array([g.person for g in gallery])
    mated_ids, mated_distances = _search(scorer, gallery, mated, 20)
    ranks = np.array([_mate_rank(row, people, probe.person) for row, probe in zip(mated_ids, mated, strict=True)])
    mated_top = mated_distances[:, 0]
    mated_found = people[mated_ids[:, 0]] == np.array([p.person for p in mated])
    nonmated_top = _search(scorer, gallery, nonmated, 1)[1][:, 0]
    clean = np.array(without_label_errors(nonmated, set(people)))
    fnir = {f"{t:g}": fnir_at_fpir(mated_top, mated_found, nonmated_top, t) for t in FPIRS}
    fnir_clean = {f"{t:g}": fnir_at_fpir(mated_top, mated_found, nonmated_top[clean], t) for t in FPIRS}
    det_thresholds = np.unique(np.quantile(np.concatenate([mated_top, nonmated_top]), np.linspace(0, 1, 400)))
    det_fpir = np.array([fpir_at(nonmated_top, t) for t in det_thresholds])
    det_fnir = np.array([np.mean(~(mated_found & (mated_top <= t))) for t in det_thresholds])
    return Identification(
        gallery_size=len(gallery),
        mated_probes=len(mated),
        nonmated_probes=len(nonmated),
        rank1=rank_k(ranks, 1),
        rank5=rank_k(ranks, 5),
        fnir_at_fpir=fnir,
        fpir_at_threshold=fpir_at(nonmated_top, threshold),
        fpir_by_gallery_size=_fpir_by_size(gallery, scorer, nonmated, threshold, seed),
        det_fpir=det_fpir,
        det_fnir=det_fnir,
        fnir_at_fpir_without_label_errors=fnir_clean,
        label_error_probes=int(len(nonmated) - clean.sum()),
    )


def _search(
    scorer: PairScorer, gallery: list[LfwImage], probes: list[LfwImage], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, distances) of each probe's k nearest gallery entries. One model: the product's ExactIndex;
    fused: the rule's distance to every gallery entry (a missing score ranks last)."""
    only = scorer.only
    if only is not None:
        vectors = np.stack([only[g] for g in gallery])
        index = ExactIndex(dim=vectors.shape[1])  # an operator-added model's width may not be 128
        index.add(np.arange(len(gallery)), vectors)
        hits = index.search(np.stack([only[p] for p in probes]), k)
        return hits.ids, hits.distances
    ids = np.zeros((len(probes), k), dtype=np.int64)
    distances = np.zeros((len(probes), k))
    for start in range(0, len(probes), 500):
        block = np.nan_to_num(scorer.matrix(probes[start : start + 500], gallery), nan=NO_FACE_DISTANCE)
        nearest = np.argsort(block, axis=1, kind="stable")[:, :k]
        ids[start : start + len(block)] = nearest
        distances[start : start + len(block)] = np.take_along_axis(block, nearest, axis=1)
    return ids, distances


def _mate_rank(row: np.ndarray, people: np.ndarray, person: str) -> int:
    found = np.flatnonzero(people[row[row >= 0]] == person)
    return int(found[0]) + 1 if len(found) else 10**9


def _fpir_by_size(
    gallery: list[LfwImage], scorer: PairScorer, nonmated: list[LfwImage], threshold: float, seed: int
) -> list[tuple[int, float]]:
    """FPIR grows with the gallery: each stranger has more chances to land under the threshold."""
    rng = np.random.default_rng(seed)
    sizes = sorted({min(len(gallery), max(10, len(gallery) * share // 100)) for share in (5, 10, 25, 50, 100)})
    results = []
    for size in sizes:
        chosen = [gallery[i] for i in rng.permutation(len(gallery))[:size]]
        results.append((size, fpir_at(_search(scorer, chosen, nonmated, 1)[1][:, 0], threshold)))
    return results


@dataclass(frozen=True)
class GroupRates:
    attribute: str
    group: str
    images: int
    people: int
    false_match: Rate
    false_non_match: Rate
    # FMR of each people-resampling of this group (for intervals on ratios between groups)
    fmr_samples: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "images": self.images,
            "people": self.people,
            "fmr": self.false_match.to_dict(),
            "fnmr": self.false_non_match.to_dict(),
        }


def group_rates(
    embeddings: Scored, labels: dict[LfwImage, str], attribute: str, threshold: float, per_person: int = 10
) -> list[GroupRates]:
    """FMR over impostor pairs within a group and FNMR over genuine pairs within it, at the threshold.
    At most `per_person` images per person, so that a few much-photographed people do not dominate."""
    groups: dict[str, list[LfwImage]] = defaultdict(list)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    scorer = as_scorer(embeddings)
    for image in scorer.images:
        group = labels.get(image)
        if group is not None and counts[(group, image.person)] < per_person:
            counts[(group, image.person)] += 1
            groups[group].append(image)
    return [
        _rates(attribute, group, images, scorer, threshold, seed)
        for seed, (group, images) in enumerate(sorted(groups.items()))
    ]


def _rates(
    attribute: str, group: str, images: list[LfwImage], scorer: PairScorer, threshold: float, seed: int
) -> GroupRates:
    """Counts per pair of people, so that the interval can resample people (pairs sharing a person are
    not independent: a per-pair interval would be far too narrow for a group of a dozen people)."""
    only = scorer.only
    vectors = np.stack([only[i] for i in images]).astype(np.float64) if only is not None else np.zeros((0, 1))
    names = sorted({i.person for i in images})
    owner = np.array([names.index(i.person) for i in images])
    matches = np.zeros((len(names), len(names)))
    pairs = np.zeros((len(names), len(names)))
    norms = (vectors**2).sum(1)
    for start in range(0, len(images), 2000):
        if only is not None:
            block = vectors[start : start + 2000]
            distances = np.sqrt(
                np.maximum(norms[start : start + 2000, None] + norms[None, :] - 2 * block @ vectors.T, 0)
            )
        else:  # a pair no model scored never matches
            distances = np.nan_to_num(scorer.matrix(images[start : start + 2000], images), nan=NO_FACE_DISTANCE)
            block = distances
        rows, cols = np.nonzero(np.arange(len(images))[None, :] > np.arange(start, start + len(block))[:, None])
        a, b = owner[start + rows], owner[cols]
        np.add.at(pairs, (a, b), 1)
        np.add.at(matches, (a, b), distances[rows, cols] <= threshold)
    pairs, matches = pairs + pairs.T - np.diag(np.diag(pairs)), matches + matches.T - np.diag(np.diag(matches))
    off = ~np.eye(len(names), dtype=bool)
    impostors, false_matches = int(pairs[off].sum() / 2), int(matches[off].sum() / 2)
    genuines = int(np.diag(pairs).sum())
    false_non_matches = genuines - int(np.diag(matches).sum())
    impostor_interval = people_bootstrap_interval(np.where(off, matches, 0), np.where(off, pairs, 0), reps=200)
    samples = people_bootstrap_rates(np.where(off, matches, 0), np.where(off, pairs, 0), reps=200, seed=1000 + seed)
    genuine_interval = people_bootstrap_interval(np.diag(pairs - matches), np.diag(pairs), reps=200, diagonal=True)
    return GroupRates(
        attribute,
        group,
        len(images),
        len(names),
        Rate(false_matches, impostors, impostor_interval),
        Rate(false_non_matches, genuines, genuine_interval),
        samples,
    )
