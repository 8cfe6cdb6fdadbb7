"""Analyse many image files on a Ray cluster: one actor per cluster CPU, each loading the models once.

Only the analysis leaves this machine: the caller reads each file and sends its bytes (cluster nodes need
not see this filesystem), gets back the faces and thumbnails, and does every database write itself, so
what is stored stays exactly-once and resumable (ingest skips images it already holds by content hash).
Plain actors in an ActorPool, not Ray Data: on 2 CPUs Ray Data's actor pool starves its own read stage
(docs/DEPENDENCIES.md). Every node must run the same faceledger and models: each actor reports its models'
identities (name, version, weights hash) and a mismatch is refused before any file is sent.

What travels: the photos, and back their embeddings and thumbnails, in plain form through Ray's transport
and object store. Run the cluster on the deployment's private network with Ray's TLS on (RAY_USE_TLS) and
object spilling on encrypted disk, as the README says; the database URL never leaves this process."""

from __future__ import annotations

import dataclasses
import importlib
import logging
import secrets
import socket
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import threadpoolctl

from faceledger.config import Settings
from faceledger.engine.parallel import FileResult, analyse_file
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import EngineUnavailable, ModelMismatch
from faceledger.types import Detector

ACTOR_PREFIX = "faceledger-analyser"
NAMESPACE = "faceledger"
_RESULT_TIMEOUT_FACTOR = 4  # a file's result may take this many analysis timeouts (queueing, model load)
_MODELS_TIMEOUT_S = 600  # each actor loads the models before it answers


class Analyser:
    """One cluster worker: the pipeline's models, loaded once; a file's bytes in, its FileResult out."""

    def __init__(self, settings: Settings, detector: Detector | None, thumbnail_px: int | None) -> None:
        threadpoolctl.threadpool_limits(1)  # one BLAS thread: there is an actor on every CPU
        self._engine = FaceEngine(settings).load()
        self._detector, self._thumbnail_px = detector, thumbnail_px

    def models(self) -> list[str]:
        return model_keys(self._engine)

    def analyse(self, original: str, data: bytes | None) -> FileResult:
        if data is None:
            return FileResult(Path(original), None, f"{original}: cannot be read")
        with tempfile.TemporaryDirectory(prefix="faceledger-ray-") as folder:
            path = Path(folder) / Path(original).name
            path.write_bytes(data)
            result = analyse_file(self._engine, path, self._detector, self._thumbnail_px)
        error = result.error.replace(str(path), original) if result.error else None  # the caller's name for it
        return dataclasses.replace(result, path=Path(original), error=error)


def model_keys(engine: FaceEngine) -> list[str]:
    detector = engine.detector_model
    return [model.key for model in engine.models] + ([detector.key] if detector is not None else [])


def analyse_on_ray(
    paths: Sequence[Path],
    settings: Settings,
    address: str,
    *,
    detector: Detector | None = None,
    thumbnail_px: int | None = None,
) -> Iterator[FileResult]:
    """Yield one FileResult per path, in order. A bad file is a result with an error; a cluster that cannot
    be reached, or loses a worker, is an EngineUnavailable (what was committed before it stays)."""
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        _reachable(address)  # ray.init retries an address where nothing listens for minutes
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise EngineUnavailable(f"no Ray cluster could be reached at {address}: {exc}") from exc
    actors: list[Any] = []
    try:
        # Only what analysis needs goes to the cluster: never the database URL (it may carry a password).
        remote_settings = settings.model_copy(update={"database_url": None, "milvus_uri": None})
        actors = _start_actors(ray, remote_settings, detector, thumbnail_px)
        _check_models(ray, actors, settings, address)
        yield from _results(ray, actors, list(paths), settings, address)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()


def _results(ray: Any, actors: list[Any], paths: list[Path], settings: Settings, address: str) -> Iterator[FileResult]:
    """In input order. The pool gives each idle actor one file; a few more wait, read only when sent, so
    a million paths never sit in memory as bytes."""
    pool = importlib.import_module("ray.util").ActorPool(actors)
    limit, timeout_s = settings.max_image_bytes, _RESULT_TIMEOUT_FACTOR * settings.analysis_timeout_s
    remaining = iter(paths)

    def submit(path: Path) -> None:
        pool.submit(lambda actor, file: actor.analyse.remote(str(file), _read(file, limit)), path)

    for _ in paths[: 2 * len(actors)]:
        submit(next(remaining))
    for path in paths:
        try:
            yield pool.get_next(timeout=timeout_s)
        except TimeoutError as exc:
            raise EngineUnavailable(
                f"the Ray cluster at {address} gave no result for {path} within {timeout_s:.0f} s: what was "
                "committed stays; run the same ingest again to go on from there"
            ) from exc
        except ray.exceptions.RayTaskError as exc:  # this file broke the analysis itself: a failure, not the run
            yield FileResult(path, None, f"{path}: the analysis failed on the cluster ({exc.cause!r})"[:500])
        except ray.exceptions.RayError as exc:
            raise EngineUnavailable(
                f"the Ray cluster at {address} lost an analysis worker ({type(exc).__name__}): what was "
                "committed stays; run the same ingest again to go on from there"
            ) from exc
        following = next(remaining, None)
        if following is not None:
            submit(following)


def _reachable(address: str, timeout_s: float = 10.0) -> None:
    """A head's GCS port must accept a connection; a "host:port" that does not is refused at once."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # another form Ray understands ("auto", ray://): left to Ray
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EngineUnavailable(f"no Ray cluster answers at {address}: {exc.strerror or exc}") from exc


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise EngineUnavailable("--ray needs the ray package: pip install 'faceledger[ray]'") from exc


def _start_actors(ray: Any, settings: Settings, detector: Detector | None, thumbnail_px: int | None) -> list[Any]:
    cpus = max(1, int(ray.available_resources().get("CPU", 1)))  # a shared cluster: what is free now
    remote = ray.remote(num_cpus=1, max_restarts=0)(Analyser)
    run = secrets.token_hex(4)  # several ingests may share one cluster
    named = [remote.options(name=f"{ACTOR_PREFIX}-{run}-{number}") for number in range(cpus)]
    return [actor.remote(settings, detector, thumbnail_px) for actor in named]


def _check_models(ray: Any, actors: list[Any], settings: Settings, address: str) -> None:
    here = model_keys(FaceEngine(settings))
    try:
        there = ray.get([actor.models.remote() for actor in actors], timeout=_MODELS_TIMEOUT_S)
    except (ray.exceptions.RayError, TimeoutError) as exc:
        raise EngineUnavailable(f"the Ray cluster at {address} could not load the models: {exc}") from exc
    for keys in there:
        if keys != here:
            raise ModelMismatch(
                f"a node of the Ray cluster at {address} runs the models {', '.join(keys)}; this gallery is "
                f"built with {', '.join(here)}: install the same faceledger there"
            )


def _read(path: Path, limit: int) -> bytes | None:
    """The file's bytes, at most `limit` + 1 of them (the worker's own size check then refuses it)."""
    try:
        with path.open("rb") as handle:
            return handle.read(limit + 1)
    except OSError:
        return None
