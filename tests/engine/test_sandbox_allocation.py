"""A worker's failed allocation is the memory budget (413), whichever library reports it."""

from __future__ import annotations

from faceledger.engine.sandbox import _allocation_failed


def test_a_failed_allocation_in_a_worker_reads_as_the_memory_budget() -> None:
    """dlib and onnxruntime report a failed allocation as errors of their own (whether YuNet's arena fails
    under the cap depends on the machine, so the message is checked here, not by timing a real bomb)."""
    arena = RuntimeError(
        "[ONNXRuntimeError] : 1 : FAIL : Non-zero status code returned while running Conv node. "
        "Status Message: /onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:360 "
        "Failed to allocate memory for requested buffer of size 33554432"
    )
    assert _allocation_failed(arena) and _allocation_failed(RuntimeError("std::bad_alloc"))
    assert not _allocation_failed(RuntimeError("the model file is damaged"))
