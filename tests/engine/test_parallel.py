from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine.parallel import FileResult, analyse_files

pytestmark = pytest.mark.needs_data


def test_two_workers_give_the_same_results_as_one(samples: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    paths = [
        samples / "wh_obama_2012_portrait.jpg",
        bad,
        samples / "nasa_iss_expedition12_holiday.jpg",
        samples / "nasa_portrait_william_shepherd.jpg",
        samples / "wh_obama_biden_2010_composite.jpg",
    ]
    seen: list[FileResult] = []
    parallel = list(analyse_files(paths, Settings(), workers=2, on_result=seen.append))
    serial = list(analyse_files(paths, Settings(), workers=1))
    assert [r.path for r in parallel] == paths, "results come back in input order"
    assert len(seen) == len(paths)
    assert parallel[1].faces is None and parallel[1].error is not None and "bad.jpg" in parallel[1].error
    for one, many in zip(serial, parallel, strict=True):
        if one.faces is None or many.faces is None:
            assert one.error == many.error
            continue
        assert [f.box for f in one.faces.faces] == [f.box for f in many.faces.faces]
        for a, b in zip(one.faces.faces, many.faces.faces, strict=True):
            assert a.embedding is not None and b.embedding is not None
            # Equal to float32 rounding: BLAS may sum in another order with another thread count per process.
            np.testing.assert_allclose(a.embedding.vector, b.embedding.vector, rtol=0, atol=1e-5)
