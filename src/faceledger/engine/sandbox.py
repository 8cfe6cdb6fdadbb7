"""Analyses in long-lived worker processes, each with a deadline and a memory cap.

dlib cannot be interrupted inside a thread, so a probe analysis runs in a worker process that loads the
models once; a worker that overruns its deadline is killed (and a fresh one started for the next
analysis), and one that runs out of its address space (RLIMIT_AS) fails with a clear error. At most
`analysis_max_concurrent` analyses run at once per process; a caller over the bound waits
`analysis_queue_wait_s`, then is told to come back (Busy), never left hanging.

A job is a picklable top-level function; in the worker it calls `worker_engine(settings)`."""

from __future__ import annotations

import multiprocessing
import os
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

import threadpoolctl

from faceledger.config import Settings
from faceledger.engine.operator_model import settings_spec
from faceledger.engine.pipeline import FaceEngine, OnnxModels, OperatorModels
from faceledger.engine.runtime import FaceRuntime
from faceledger.errors import Busy, FaceledgerError, WorkLimitExceeded
from faceledger.types import DescriptorRuntime, OnnxProvider, Pipeline

T = TypeVar("T")
_START_TIMEOUT_S = 120.0  # spawning and loading the models; not counted against an analysis's deadline


@dataclass(frozen=True)
class WorkBudget:
    timeout_s: float
    memory_bytes: int
    max_concurrent: int
    queue_wait_s: float

    @classmethod
    def of(cls, settings: Settings) -> WorkBudget:
        return cls(
            settings.analysis_timeout_s,
            settings.analysis_max_memory_bytes,
            settings.analysis_max_concurrent,
            settings.analysis_queue_wait_s,
        )


# --- inside a worker -------------------------------------------------------------------------------
_runtimes: dict[DescriptorRuntime, FaceRuntime] = {}
_onnx_models: dict[tuple[OnnxProvider, int], OnnxModels] = {}
_operator_models: dict[tuple[str, str, OnnxProvider, int], OperatorModels] = {}


def worker_engine(settings: Settings) -> FaceEngine:
    """An engine for these settings on the worker's already loaded models (building one is cheap): dlib's
    for the dlib and fused pipelines, YuNet and SFace for sface and fused."""
    if settings.pipeline is Pipeline.OPERATOR:  # YuNet and the added model only, loaded once per file
        spec = settings_spec(settings)
        wanted = (str(spec.path), spec.sha256, settings.onnx_provider, settings.onnx_threads)
        operator = _operator_models.get(wanted)
        if operator is None:
            operator = _operator_models[wanted] = OperatorModels.load(settings)
        return FaceEngine(settings, operator=operator)
    runtime = None
    if settings.pipeline is not Pipeline.SFACE:
        runtime = _runtimes.get(settings.descriptor_runtime)
        if runtime is None:
            runtime = _runtimes[settings.descriptor_runtime] = FaceEngine(settings).runtime
    onnx = None
    if settings.pipeline is not Pipeline.DLIB:
        key = (settings.onnx_provider, settings.onnx_threads)
        onnx = _onnx_models.get(key)
        if onnx is None:
            onnx = _onnx_models[key] = OnnxModels.load(settings)
    return FaceEngine(settings, runtime, onnx)


def _address_space_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _serve(conn: Connection, settings: Settings) -> None:
    threadpoolctl.threadpool_limits(1)  # a worker is one analysis; the pool bounds how many run at once
    worker_engine(settings)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            function, args, memory_bytes = conn.recv()
        except (EOFError, OSError):  # the server went away: so does its worker
            return
        cap = _address_space_bytes() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
        try:
            reply: tuple[str, Any] = ("ok", function(*args))
        except FaceledgerError as exc:
            reply = ("error", exc)
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:  # dlib and onnxruntime report a failed allocation as an error of their own
            reply = ("memory", None) if _allocation_failed(exc) else ("crash", f"{type(exc).__name__}: {exc}")
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
        try:
            conn.send(reply)
        except Exception as exc:  # an unpicklable result is a bug, reported rather than hanging the caller
            conn.send(("crash", f"the result could not be sent back: {exc}"))


_ALLOCATION_FAILURES = ("bad_alloc", "bfc_arena", "Failed to allocate memory")  # dlib; onnxruntime's arena


def _allocation_failed(exc: Exception) -> bool:
    return any(sign in str(exc) for sign in _ALLOCATION_FAILURES)


# --- in the server -----------------------------------------------------------------------------------
class _Worker:
    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the server holds threads (and their locks) that fork would copy half-taken.
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, settings), daemon=True, name="faceledger-analysis")
        self.process.start()
        child.close()
        if not self.conn.poll(_START_TIMEOUT_S):
            self.kill()
            raise WorkLimitExceeded(f"an analysis worker did not start within {_START_TIMEOUT_S:.0f} s")
        try:
            self.conn.recv()
        except (EOFError, OSError) as exc:  # e.g. a CLI exiting while a spare worker still loads its models
            self.kill()
            raise WorkLimitExceeded("an analysis worker exited while it was starting") from exc

    def call(self, budget: WorkBudget, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self.conn.send((function, args, budget.memory_bytes))
        if not self.conn.poll(budget.timeout_s):
            self.kill()
            raise WorkLimitExceeded(
                f"the analysis was stopped at its time budget (analysis_timeout_s) of {budget.timeout_s:g} s"
            )
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            message = (
                f"the analysis worker died; it may have gone past the memory budget "
                f"(analysis_max_memory_bytes) of {budget.memory_bytes:,} bytes"
            )
            raise WorkLimitExceeded(message) from exc
        if kind == "ok":
            return value
        if kind == "error":
            raise value
        if kind == "memory":
            raise WorkLimitExceeded(
                f"the analysis went past its memory budget (analysis_max_memory_bytes) of {budget.memory_bytes:,} bytes"
            )
        raise RuntimeError(f"the analysis worker failed: {value}")

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()

    @property
    def alive(self) -> bool:
        return self.process.is_alive()


class WorkerPool:
    """Up to `size` workers, started on demand and kept for the next analysis."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Worker] = []
        self._starting = False
        self._busy = 0  # analyses holding a worker
        self._lock = threading.Lock()

    def run(self, settings: Settings, function: Callable[..., T], *args: Any) -> T:
        budget = WorkBudget.of(settings)
        if not self._slots.acquire(timeout=budget.queue_wait_s):
            raise Busy(
                f"{self.size} analyses are already running (analysis_max_concurrent); try again shortly",
                retry_after_s=max(1, round(budget.queue_wait_s)),
            )
        with self._lock:
            self._busy += 1
        try:
            worker = self._take(settings)
            try:
                result: T = worker.call(budget, function, args)
            except (FaceledgerError, RuntimeError):
                if worker.alive and not worker.conn.closed:
                    self._give_back(worker)  # it answered (with an error) and is ready for the next job
                raise
            except BaseException:  # interrupted while the worker still works: it cannot be reused
                worker.kill()
                raise
            self._give_back(worker)
            return result
        finally:
            with self._lock:
                self._busy -= 1
            self._slots.release()

    def _take(self, settings: Settings) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    self._start_spare(settings)
                    return worker
        return _Worker(settings)

    def _start_spare(self, settings: Settings) -> None:
        """Once the pool is in use, keep one worker ready in the background, so that the next concurrent
        analysis does not wait seconds for a process to load the models (called with the lock held)."""
        if self._idle or self._starting or self._busy >= self.size:
            return
        self._starting = True

        def start() -> None:
            try:
                self._give_back(_Worker(settings))
            except FaceledgerError:  # a worker that cannot start is started again on demand
                pass
            finally:
                with self._lock:
                    self._starting = False

        threading.Thread(target=start, name="faceledger-spare-worker", daemon=True).start()

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            keep = len(self._idle) < self.size
            if keep:
                self._idle.append(worker)
        if not keep:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._idle if w.process.pid is not None]


_pools: dict[int, WorkerPool] = {}
_pools_lock = threading.Lock()


def pool_for(settings: Settings) -> WorkerPool:
    """The process's pool for this concurrency bound (one per server process, shared by its requests)."""
    with _pools_lock:
        pool = _pools.get(settings.analysis_max_concurrent)
        if pool is None:
            pool = _pools[settings.analysis_max_concurrent] = WorkerPool(settings.analysis_max_concurrent)
        return pool


def run_bounded(settings: Settings, function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in a worker process, within the settings' time, memory and concurrency budgets."""
    return pool_for(settings).run(settings, function, *args)
