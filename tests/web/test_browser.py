"""The web UI in a real browser (Debian's Chromium driven by Playwright; no browser download): a
supervisor opens a case, an analyst uploads an LFW probe, chooses the face and sees the right person in
the lineup; two reviewers review in separate sessions; the supervisor signs off; after a halt the search
page shows the banner and refuses. Screenshots go to the test's output folder."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from faceledger.api.app import create_app
from faceledger.config import Settings
from faceledger.services.curation import governed_ingest
from faceledger.services.deployment import init_deployment
from faceledger.services.ingest import SourceSpec
from faceledger.types import IndexBackend
from tests.lfwdata import copy_with_manifest, passes_quality, people_with_several
from tests.office import Office, make_office

pytestmark = [pytest.mark.needs_data, pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PASSWORD = "a long enough password"
ATTESTATION = "complainant's photo of the officer named in complaint C-2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(data_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Office, list[tuple[str, list[Path]]]]]:
    """The service on the embedded default (SQLite, FAISS); the API tests cover PostgreSQL."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (make test installs Debian's chromium)"
        if os.environ.get("FACELEDGER_REQUIRE_TEST_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    deployment = init_deployment(Settings(workers=2), tmp_path / "data", IndexBackend.FAISS)
    office = make_office(deployment, case=False)
    people = people_with_several(data_dir, 6)
    governed_ingest(office.deployment, office.curator, copy_with_manifest(people, tmp_path / "gallery"),
                    SourceSpec("lfw", "research test data"))  # fmt: skip
    for user in ("analyst", "reviewer1", "reviewer2", "supervisor", "auditor"):
        office.set_password(user, PASSWORD)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(office.deployment.settings, office.deployment.data_dir),
                                           host="127.0.0.1", port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    yield f"http://127.0.0.1:{port}", office, people
    server.should_exit = True
    thread.join(timeout=10)
    deployment.close()


def signed_in_page(browser: Any, base: str, user: str) -> Any:
    """A new browser context (its own cookies), signed in as `user` on the login page."""
    page = browser.new_context().new_page()
    page.goto(f"{base}/ui/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_the_workflow_in_a_browser(served: tuple[str, Office, list[tuple[str, list[Path]]]], tmp_path: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    base, office, people = served
    shots = tmp_path / "screenshots"
    shots.mkdir()
    person_images = next(images for _, images in people if passes_quality(office.deployment.face_engine, images[1]))

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

        def session(user: str) -> Page:
            page: Page = signed_in_page(browser, base, user)
            expect(page.locator("#authority-banner")).to_contain_text("Authorisation active")
            return page

        supervisor = session("supervisor")
        supervisor.goto(f"{base}/ui/cases")
        supervisor.get_by_label("Case number").fill("C-2")
        supervisor.get_by_label("Offence or complaint type").fill("assault")
        supervisor.get_by_role("button", name="Open case").click()
        for user in ("analyst", "reviewer1", "reviewer2"):
            supervisor.get_by_label("User name (analyst or reviewer)").fill(user)
            supervisor.get_by_role("button", name="Assign").click()
        expect(supervisor.locator("#assigned")).to_contain_text("analyst, reviewer1, reviewer2")
        supervisor.screenshot(path=shots / "1-case.png", full_page=True)

        analyst = session("analyst")
        analyst.goto(f"{base}/ui/search")
        analyst.get_by_label("Case").select_option("C-2")
        analyst.get_by_label("Probe photo").set_input_files(str(person_images[1]))
        analyst.get_by_role("button", name="Find faces").click()
        expect(analyst.get_by_alt_text("The probe photo with each face found outlined and numbered")).to_be_visible()
        analyst.get_by_label("Why is this search needed?").fill(ATTESTATION)
        analyst.screenshot(path=shots / "2-choose-face.png", full_page=True)
        analyst.get_by_role("button", name="Search the gallery").click()
        first = analyst.locator("figure.candidate").first
        expect(first).to_contain_text(person_images[0].name)
        expect(first).to_contain_text("not an identification")
        _wait_for_images(analyst)
        analyst.screenshot(path=shots / "3-lineup.png", full_page=True)
        candidate_url = first.get_by_role("link", name="review or sign off").get_attribute("href")
        assert candidate_url is not None

        for user in ("reviewer1", "reviewer2"):
            reviewer = session(user)
            reviewer.goto(base + candidate_url)
            expect(reviewer.locator("#reviews-hidden")).to_be_visible()
            reviewer.get_by_label("Possible match").check()
            reviewer.get_by_role("button", name="Record review").click()
            reviewer.screenshot(path=shots / f"4-{user}.png", full_page=True)
        expect(reviewer.locator("#state")).to_have_text("awaiting_signoff")

        supervisor.goto(base + candidate_url)
        supervisor.get_by_role("button", name="Sign off as a confirmed lead").click()
        expect(supervisor.locator("#state")).to_have_text("confirmed")
        supervisor.screenshot(path=shots / "5-signed-off.png", full_page=True)

        supervisor.goto(f"{base}/ui/")
        supervisor.get_by_label("Reason for halting everything now").fill("council vote to pause the pilot")
        supervisor.get_by_role("button", name="Halt all searching").click()
        expect(supervisor.locator("#authority-banner")).to_contain_text("SEARCHING IS HALTED")

        analyst.goto(f"{base}/ui/search")
        expect(analyst.locator("#authority-banner")).to_contain_text("SEARCHING IS HALTED")
        analyst.get_by_label("Case").select_option("C-2")
        analyst.get_by_label("Probe photo").set_input_files(str(person_images[1]))
        analyst.get_by_role("button", name="Find faces").click()  # finding faces is governed like the search
        expect(analyst.get_by_role("alert")).to_contain_text("the authorisation is halted")
        analyst.screenshot(path=shots / "6-halted.png", full_page=True)
        browser.close()

    refused = office.entries(outcome="refused", action="search")
    assert refused and "the authorisation is halted" in refused[-1].reasons


def test_a_video_search_in_a_browser(
    served: tuple[str, Office, list[tuple[str, list[Path]]]], data_dir: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    from faceledger.services import cases, video_search

    base, office, _ = served
    video = data_dir / "video" / "video_01.mp4"
    cases.open_case(office.deployment, office.supervisor, "V-1", purpose="misconduct-complaint", offence_type="assault")
    cases.assign(office.deployment, office.supervisor, "V-1", ["analyst"])
    video_search.override_track(office.deployment, office.supervisor, "V-1", video, 1, "the only footage")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = signed_in_page(browser, base, "analyst")
        page.goto(f"{base}/ui/video")
        page.get_by_label("Case").select_option("V-1")
        page.get_by_label("Video", exact=True).set_input_files(str(video))
        page.get_by_role("button", name="Find faces in the video").click()
        expect(page.get_by_alt_text("Contact sheet: one row per track with its best face")).to_be_visible()
        radios = page.get_by_role("radio")  # one per track: five people stand in the room
        expect(radios.first).to_be_visible()
        assert 3 <= radios.count() <= 6
        page.screenshot(path=tmp_path / "video-tracks.png", full_page=True)
        page.get_by_label("Why is this search needed?").fill(ATTESTATION)
        page.get_by_role("button", name="Search the chosen face").click()
        expect(page.locator("#outcome")).to_be_visible()
        page.screenshot(path=tmp_path / "video-lineup.png", full_page=True)
        browser.close()
    entry = office.entries(action="search", outcome="done")[-1]
    assert '"video_name":"video_01.mp4"' in entry.details and '"chosen_by":"analyst"' in entry.details


def test_reports_open_in_a_browser_with_their_charts(
    served: tuple[str, Office, list[tuple[str, list[Path]]]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, _, _ = served
    loaded = "[...document.images].every(image => image.complete && image.naturalWidth > 0)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = signed_in_page(browser, base, "auditor")
        page.goto(f"{base}/ui/reports")
        page.get_by_role("button", name="Open the accountability report").click()
        expect(page.get_by_role("heading", name="Accountability report")).to_be_visible()
        expect(page.locator("img")).to_have_count(3)
        page.wait_for_function(loaded)
        page.screenshot(path=tmp_path / "accountability.png", full_page=True)
        page.goto(f"{base}/ui/reports")
        page.get_by_role("button", name="Open the usage report").click()
        expect(page.locator("img")).to_have_count(6)
        page.wait_for_function(loaded)
        page.screenshot(path=tmp_path / "usage.png", full_page=True)
        browser.close()


def _wait_for_images(page: Any, timeout_s: float = 30) -> None:
    """Every image on the page decoded. Polled with evaluate: wait_for_function compiles its predicate
    with eval, which the pages' Content-Security-Policy rightly refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate("() => [...document.images].every(image => image.complete && image.naturalWidth > 0)"):
        assert time.monotonic() < deadline, "the lineup's images did not load"
        time.sleep(0.2)
