"""M3 (ingest part) and a Low: a manifest's source and page URLs must be http(s), the lineup links only
http(s) URLs (rows stored before the check stay inert text), and candidate provenance names no absolute
server path."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from faceledger.api.pages import templates
from faceledger.errors import InvalidInput
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import curation
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.models import GalleryImage
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, make_office

SPEC = SourceSpec("web", "test basis")
HOSTILE = (
    "javascript:alert(document.cookie)",
    " JavaScript:alert(1)",
    "data:text/html,<script>x</script>",
    "file:///etc/passwd",
    "vbscript:msgbox",
    "http:no-host",
    "https://example.org/a b",
)


def manifest_with(folder: Path, rows: list[dict[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (90, 90, 90)).save(folder / "a.jpg")
    path = folder / "manifest.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "source_url", "page_url"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("column", ["source_url", "page_url"])
def test_ingest_refuses_urls_that_are_not_http(
    make_deployment: Callable[..., Deployment], tmp_path: Path, column: str
) -> None:
    deployment = make_deployment()
    for number, url in enumerate(HOSTILE):
        good = {"file": "a.jpg", "source_url": "https://example.org/a.jpg", "page_url": "http://example.org/"}
        manifest = manifest_with(tmp_path / f"in{number}", [good, {**good, column: url}])
        with pytest.raises(InvalidInput, match=rf"entry 2: {column} must be an http:// or https:// URL"):
            ingest(deployment, manifest, SPEC)
    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).select_from(GalleryImage)) == 0
    fine = manifest_with(
        tmp_path / "fine", [{"file": "a.jpg", "source_url": "HTTPS://Example.org/a.jpg", "page_url": ""}]
    )
    assert ingest(deployment, fine, SPEC).files_seen == 1  # accepted (it has no face, so it fails as such)


def test_the_lineup_links_only_http_urls() -> None:
    template = templates.env.get_template("lineup.html")

    def page(url: str) -> str:
        candidate = {
            "candidate_id": 7,
            "rank": 1,
            "distance": 0.4,
            "likelihood": "x",
            "false_match": "y",
            "state": "new",
            "provenance": {"source": "web", "source_url": url, "original_filename": "a.jpg"},
        }
        search = {
            "notice": "",
            "case": "C-1",
            "gallery_faces": 1,
            "threshold": 0.6,
            "outcome": "candidates",
            "search_id": 1,
            "candidates": [candidate],
        }
        return template.render(title="t", actor=None, search=search)

    for url in HOSTILE[:5]:
        html = page(url)
        assert 'href="javascript' not in html.lower() and 'href=" javascript' not in html.lower()
        assert "data:text" not in html.split("href=")[-1].split(">")[0] and "where it came from" not in html
    assert 'href="https://example.org/a.jpg"' in page("https://example.org/a.jpg")


@pytest.mark.needs_data
def test_candidate_provenance_has_no_absolute_server_path(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 3)
    deployment = make_deployment()
    office = make_office(deployment)
    curation.governed_ingest(deployment, office.curator, copy_with_manifest(people, tmp_path / "g"), SPEC)
    outcome = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[0][1][1]))
    assert outcome.candidates
    for candidate in outcome.candidates:
        text = repr(candidate)
        assert str(deployment.data_dir) not in text and str(tmp_path) not in text
        assert candidate["provenance"]["thumbnail"].startswith("thumbnails/")
