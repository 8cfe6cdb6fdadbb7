"""Analyse many image files on all cores: one process per core, each loading the models once.

dlib-bin is single-threaded and its ResNet gains nothing from batching (73-79 ms per face for batches of
1-64, see DEPENDENCY-NOTES), so the only batching here is `chunksize`: a few paths per message to the
workers, which keeps the pool's inter-process traffic small against ~100+ ms of work per image."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import threadpoolctl

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import FaceledgerError
from faceledger.types import Detector, ImageFaces


@dataclass(frozen=True)
class FileResult:
    """The faces of one file, or the one-line reason it could not be analysed."""

    path: Path
    faces: ImageFaces | None
    error: str | None = None


_worker_engine: FaceEngine | None = None
_worker_detector: Detector | None = None


def analyse_file(engine: FaceEngine, path: Path, detector: Detector | None = None) -> FileResult:
    try:
        image = engine.load_image(path)
        return FileResult(path, engine.analyse(image, detector))
    except FaceledgerError as exc:
        return FileResult(path, None, str(exc))


def analyse_files(
    paths: Sequence[Path],
    settings: Settings,
    *,
    detector: Detector | None = None,
    workers: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> Iterator[FileResult]:
    """Yield one FileResult per path, in order. A bad file is a result with an error, never an exception."""
    count = min(workers or settings.workers, len(paths))
    if count <= 1:
        engine = FaceEngine(settings).load()
        results: Iterator[FileResult] = (analyse_file(engine, path, detector) for path in paths)
        yield from _reporting(results, on_result)
        return
    # spawn, not fork: the parent may hold threads (a progress bar) and fork would copy their locks.
    context = multiprocessing.get_context("spawn")
    chunk = max(1, min(8, len(paths) // (count * 4)))
    with ProcessPoolExecutor(
        count, mp_context=context, initializer=_init_worker, initargs=(settings, detector)
    ) as pool:
        yield from _reporting(pool.map(_work, paths, chunksize=chunk), on_result)


def _reporting(results: Iterator[FileResult], on_result: Callable[[FileResult], None] | None) -> Iterator[FileResult]:
    for result in results:
        if on_result is not None:
            on_result(result)
        yield result


def _init_worker(settings: Settings, detector: Detector | None) -> None:
    global _worker_engine, _worker_detector
    # One BLAS thread per worker: the pool already puts a process on every core.
    threadpoolctl.threadpool_limits(1)
    _worker_engine = FaceEngine(settings).load()
    _worker_detector = detector


def _work(path: Path) -> FileResult:
    if _worker_engine is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker used before its engine was loaded")
    return analyse_file(_worker_engine, path, _worker_detector)
