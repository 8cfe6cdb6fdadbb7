"""Batch ingestion on one machine: the engine's local process pool against a local Ray cluster.

The same LFW photos, the same cores (`--cpus` local workers, a Ray head with `--cpus` CPUs), each into a
fresh deployment through the governed ingest; images/s for each, from the ingest's own report. Ray's
figure includes starting its actors (each loads the models), as every `--ray` ingest pays it.

Run: FACELEDGER_TEST_DATA=../shared/data .venv/bin/python bench/ray_ingest.py [--images 300] [--cpus 2]"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.office, tests.raycluster

from tests.office import make_office
from tests.raycluster import local_cluster

from faceledger.config import Settings
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.runtime.deployment import init_deployment
from faceledger.types import IndexBackend


def photos(data: Path, count: int, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for image in sorted((data / "lfw").glob("*/*.jpg"))[:count]:
        shutil.copy(image, folder / image.name)
    return folder


def ingest(folder: Path, source: Path, cpus: int, ray_address: str | None) -> dict[str, Any]:
    deployment = init_deployment(Settings(workers=cpus, ingest_roots=[source]), folder / "data", IndexBackend.FAISS)
    office = make_office(deployment, grant=False)
    report = governed_ingest(
        deployment,
        office.curator,
        source,
        SourceSpec("lfw", "research test data"),
        workers=cpus,
        ray_address=ray_address,
    )
    deployment.close()
    return {
        "images_added": report.images_added,
        "faces_added": report.faces_added,
        "seconds": report.seconds,
        "images_per_s": round(report.images_added / report.seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--cpus", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-ray-ingest-"))
    source = photos(args.data.resolve(), args.images, folder / "photos")
    local = ingest(folder / "local", source, args.cpus, None)
    with local_cluster(cpus=args.cpus) as address:
        through_ray = ingest(folder / "ray", source, args.cpus, address)
    shutil.rmtree(folder, ignore_errors=True)
    print(
        json.dumps(
            {
                "benchmark": "ray_ingest",
                "cores": os.cpu_count(),
                "cpus_used": args.cpus,
                "images": args.images,
                "local_process_pool": local,
                "ray_local_cluster": through_ray,
                "ray_over_local": round(through_ray["images_per_s"] / local["images_per_s"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
