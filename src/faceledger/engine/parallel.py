"""Analyse many image files on all cores: one process per core, each loading the models once.

dlib-bin is single-threaded and its ResNet gains nothing from batching (73-79 ms per face for batches of
1-64, see docs/DEPENDENCIES.md), so there is no batching here: paths go to the workers one at a time (a few
hundred microseconds of traffic against ~50 ms of work per image), a bounded number in flight."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import threadpoolctl

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.thumbnails import face_thumbnail
from faceledger.errors import FaceledgerError
from faceledger.types import Detector, ImageFaces

_IN_FLIGHT_PER_WORKER = 8  # keeps every worker busy without queueing a million paths at once


@dataclass(frozen=True)
class FileResult:
    """The faces of one file, or the one-line reason it could not be analysed."""

    path: Path
    faces: ImageFaces | None
    error: str | None = None
    thumbnails: tuple[bytes, ...] = ()  # one JPEG per face, when asked for


@dataclass(frozen=True)
class _WorkerSetup:
    settings: Settings
    detector: Detector | None
    thumbnail_px: int | None


_worker_engine: FaceEngine | None = None
_worker_setup: _WorkerSetup | None = None


def analyse_file(
    engine: FaceEngine, path: Path, detector: Detector | None = None, thumbnail_px: int | None = None
) -> FileResult:
    try:
        image = engine.load_image(path)
        faces = engine.analyse(image, detector)
    except FaceledgerError as exc:
        return FileResult(path, None, str(exc))
    thumbnails: tuple[bytes, ...] = ()
    if thumbnail_px:
        thumbnails = tuple(face_thumbnail(image.pixels, face.box, thumbnail_px) for face in faces.faces)
    return FileResult(path, faces, thumbnails=thumbnails)


def analyse_files(
    paths: Sequence[Path],
    settings: Settings,
    *,
    detector: Detector | None = None,
    workers: int | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    thumbnail_px: int | None = None,
    ray_address: str | None = None,
) -> Iterator[FileResult]:
    """Yield one FileResult per path, in order. A bad file is a result with an error, never an exception.
    With `ray_address`, the files are analysed on that Ray cluster instead (engine/ray_analysis.py)."""
    if ray_address is not None and paths:
        from faceledger.engine.ray_analysis import analyse_on_ray  # ray is heavy: only when asked for

        yield from _reporting(
            analyse_on_ray(paths, settings, ray_address, detector=detector, thumbnail_px=thumbnail_px), on_result
        )
        return
    count = min(workers or settings.workers, len(paths))
    if count <= 1:
        engine = FaceEngine(settings).load()
        results: Iterator[FileResult] = (analyse_file(engine, path, detector, thumbnail_px) for path in paths)
        yield from _reporting(results, on_result)
        return
    # spawn, not fork: the parent may hold threads (a progress bar) and fork would copy their locks.
    context = multiprocessing.get_context("spawn")
    setup = _WorkerSetup(settings, detector, thumbnail_px)
    with ProcessPoolExecutor(count, mp_context=context, initializer=_init_worker, initargs=(setup,)) as pool:
        yield from _reporting(_ordered(pool, paths, count * _IN_FLIGHT_PER_WORKER), on_result)


def _ordered(pool: ProcessPoolExecutor, paths: Iterable[Path], window: int) -> Iterator[FileResult]:
    """Results in input order with at most `window` paths in flight."""
    remaining = iter(paths)
    pending: deque[Future[FileResult]] = deque(pool.submit(_work, p) for p in islice(remaining, window))
    while pending:
        result = pending.popleft().result()
        following = next(remaining, None)
        if following is not None:
            pending.append(pool.submit(_work, following))
        yield result


def _reporting(results: Iterator[FileResult], on_result: Callable[[FileResult], None] | None) -> Iterator[FileResult]:
    for result in results:
        if on_result is not None:
            on_result(result)
        yield result


def _init_worker(setup: _WorkerSetup) -> None:
    global _worker_engine, _worker_setup
    # One BLAS thread per worker: the pool already puts a process on every core.
    threadpoolctl.threadpool_limits(1)
    _worker_engine = FaceEngine(setup.settings).load()
    _worker_setup = setup


def _work(path: Path) -> FileResult:
    if _worker_engine is None or _worker_setup is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker used before its engine was loaded")
    return analyse_file(_worker_engine, path, _worker_setup.detector, _worker_setup.thumbnail_px)
