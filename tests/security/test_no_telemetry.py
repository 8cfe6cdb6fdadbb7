"""onnxruntime (1.29 and later) writes usage telemetry on import, and may send it: a database under
~/.cache/Microsoft and a session file in the temporary folder. faceledger turns it off before the import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_importing_the_engine_leaves_no_telemetry_behind(tmp_path: Path) -> None:
    home, temporary = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temporary.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), TMPDIR=str(temporary), XDG_CACHE_HOME=str(home / ".cache"))
    code = "import faceledger.engine.onnx_models, onnxruntime; onnxruntime.get_available_providers()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert list(temporary.iterdir()) == [], "a file was left in the temporary folder"
    assert not (home / ".cache" / "Microsoft").exists(), "onnxruntime kept a telemetry database"
