"""The web UI in a real browser (Debian's Chromium driven by Playwright; no browser download): a
supervisor opens a case, an analyst uploads an LFW probe, chooses the face and sees the right person in
the lineup; two reviewers review in separate sessions; the supervisor signs off; after a halt the search
page shows the banner and refuses. Screenshots go to the test's output folder."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from faceledger.api.app import create_app
from faceledger.config import Settings
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.runtime.deployment import init_deployment
from faceledger.types import IndexBackend
from tests.lfwdata import copy_with_manifest, passes_quality, people_with_several
from tests.office import PURPOSE, Office, make_office

pytestmark = [pytest.mark.needs_data, pytest.mark.slow, pytest.mark.browser, pytest.mark.both_databases]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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
    office, people = _office_with_gallery(Settings(workers=2), data_dir, tmp_path)
    deployment = office.deployment
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(office.deployment.settings, office.deployment.data_dir),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
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


def _office_with_gallery(
    settings: Settings, data_dir: Path, tmp_path: Path
) -> tuple[Office, list[tuple[str, list[Path]]]]:
    office = make_office(init_deployment(settings, tmp_path / "data", IndexBackend.FAISS), case=False)
    people = people_with_several(data_dir, 6)
    governed_ingest(
        office.deployment,
        office.curator,
        copy_with_manifest(people, tmp_path / "gallery"),
        SourceSpec("lfw", "research test data"),
    )
    for user in ("analyst", "reviewer1", "reviewer2", "supervisor", "auditor"):
        office.set_password(user, PASSWORD)
    return office, people


def signed_in_page(browser: Any, base: str, user: str) -> Any:
    """A new browser context (its own cookies), signed in as `user` on the login page."""
    page = browser.new_context().new_page()
    page.goto(f"{base}/ui/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


@contextmanager
def _server(office: Office, database_url: str | None, *, workers: int) -> Iterator[str]:
    """`faceledger serve` in its own process(es) on the office's data directory and database."""
    port = _free_port()
    env = {**os.environ, "FACELEDGER_DATABASE_URL": str(database_url)}
    command = [
        sys.executable,
        "-m",
        "faceledger",
        "serve",
        "--workers",
        str(workers),
        "--port",
        str(port),
        "--data-dir",
        str(office.deployment.data_dir),
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        pids = _wait_for_workers(server, port, workers)
        yield f"http://127.0.0.1:{port}"
        assert all(_alive(pid) for pid in pids), "a server process died during the test"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _needs_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (make test installs Debian's chromium)")


@pytest.fixture
def served_by_two_processes(
    data_dir: Path, tmp_path: Path, database_url: str | None
) -> Iterator[tuple[str, Office, list[tuple[str, list[Path]]]]]:
    """`faceledger serve --workers 2` on PostgreSQL: two server processes that share every piece of request
    state (sessions, a search's upload between its two steps, throttles) through the database and the
    data directory."""
    _needs_chromium()
    office, people = _office_with_gallery(Settings(workers=2, database_url=database_url), data_dir, tmp_path)
    try:
        with _server(office, database_url, workers=2) as base:
            yield base, office, people
    finally:
        office.deployment.close()


def _wait_for_workers(server: subprocess.Popen[bytes], port: int, count: int) -> list[int]:
    """The server's processes (its workers when it has several), once it answers /health."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, f"the server exited: {server.stderr.read().decode() if server.stderr else ''}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
                if count == 1:
                    return [server.pid]
                if len(children) >= count:
                    return [int(pid) for pid in children]
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the server did not start {count} worker processes")


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_the_workflow_in_a_browser(served: tuple[str, Office, list[tuple[str, list[Path]]]], tmp_path: Path) -> None:
    _workflow(served, tmp_path)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_workflow_in_a_browser_against_two_server_processes(
    served_by_two_processes: tuple[str, Office, list[tuple[str, list[Path]]]], tmp_path: Path
) -> None:
    _workflow(served_by_two_processes, tmp_path)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_search_begun_on_one_server_is_finished_on_another(
    data_dir: Path, tmp_path: Path, database_url: str | None
) -> None:
    """Step one (find the faces) on one server, step two (search) on another: the upload, the session and
    its CSRF token live in the data directory and the database, not in a process."""
    from playwright.sync_api import sync_playwright

    from faceledger.services.casework import cases

    _needs_chromium()
    office, people = _office_with_gallery(Settings(workers=2, database_url=database_url), data_dir, tmp_path)
    cases.open_case(office.deployment, office.supervisor, "C-3", purpose=PURPOSE, offence_type="assault")
    cases.assign(office.deployment, office.supervisor, "C-3", ["analyst"])
    probe = next(images for _, images in people if passes_quality(office.deployment.face_engine, images[1]))[1]
    try:
        with (
            _server(office, database_url, workers=1) as first,
            _server(office, database_url, workers=1) as second,
            sync_playwright() as playwright,
        ):
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = signed_in_page(browser, first, "analyst")  # cookies are per host, not per port
            page.goto(f"{first}/ui/search")
            page.get_by_label("Case").select_option("C-3")
            page.get_by_label("Probe photo").set_input_files(str(probe))
            page.get_by_role("button", name="Find faces").click()
            page.get_by_label("Why is this search needed?").fill(ATTESTATION)
            # The page's CSP sends forms only to their own origin, so step two goes out as the form would,
            # with the browser's cookies, to the other server.
            fields = page.eval_on_selector(
                'form[action="/ui/search"]', "form => Object.fromEntries(new FormData(form))"
            )
            answer = page.request.post(f"{second}/ui/search", form=fields)  # then to the search's own page
            assert answer.status == 200 and answer.url.startswith(second), (answer.url, answer.text()[:500])
            assert "not an identification" in answer.text() and 'class="candidate"' in answer.text()
            reused = page.request.post(f"{first}/ui/search", form=fields)
            assert reused.status < 500 and 'class="candidate"' not in reused.text(), "an upload is claimed once"
            browser.close()
        done = office.entries(action="search", outcome="done")
        assert done and done[-1].actor == "analyst"
    finally:
        office.deployment.close()


def _workflow(served: tuple[str, Office, list[tuple[str, list[Path]]]], tmp_path: Path) -> None:
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

    from faceledger.services.casework import cases, video_search

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
