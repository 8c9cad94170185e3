"""The dashboard in a real headless Chromium (Playwright), served by the real command.

`callcrew dashboard --port 0` runs as a subprocess on 127.0.0.1 with a token; the browser logs
in with basic auth, filters, opens a call, reads the charts and takes screenshots. Every request
the page makes is checked to stay on the dashboard's own address (no CDN, no fonts from
elsewhere). Needs Debian's `chromium` (scripts/install --system) and PyPI `playwright` (the dev
extra; its own browser download is never used). Missing either: skipped, a failure under CI.
Set CALLCREW_SCREENSHOTS=DIR to keep the screenshots (docs/dashboard.png comes from here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.dashboard_data import AUDIO_CALL, PLAN, fill_store

pytestmark = pytest.mark.browser

TOKEN = "browser-test-token"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: scripts/install --system installs it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox refuses to run as root (CI here is root).
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'calls.db'}"
    fill_store(url, folder)
    env = {**os.environ, "DASHBOARD_TOKEN": TOKEN, "STACK": "economy"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from callcrew.cli import main; main()",
            "dashboard",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--database-url",
            url,
        ],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    found: list[str] = []

    def read_first_line() -> None:
        assert proc.stdout is not None
        found.append(proc.stdout.readline())

    reader = threading.Thread(target=read_first_line, daemon=True)
    reader.start()
    reader.join(timeout=120)
    try:
        line = found[0] if found else ""
        assert line.startswith("dashboard on http://127.0.0.1:"), line or "no output in 120 s"
        yield line.split()[2]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def page(browser: Any, dashboard_url: str, tmp_path: Path) -> Iterator[Any]:
    context = browser.new_context(
        http_credentials={"username": "ops", "password": TOKEN},
        viewport={"width": 1200, "height": 900},
    )
    own = urlsplit(dashboard_url).netloc
    elsewhere: list[str] = []

    def check(route: Any) -> None:
        if urlsplit(route.request.url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", check)
    pg = context.new_page()
    yield pg
    context.close()
    assert elsewhere == [], f"the page asked for other hosts: {elsewhere}"


def _shot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    keep = os.environ.get("CALLCREW_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)
    return path


def test_without_the_token_the_browser_gets_401(browser: Any, dashboard_url: str) -> None:
    from playwright.sync_api import Error

    context = browser.new_context()
    try:
        # Chromium answers a basic-auth challenge it has no credentials for with an error page.
        with pytest.raises(Error, match="AUTH"):
            context.new_page().goto(dashboard_url)
        assert context.request.get(dashboard_url).status == 401
    finally:
        context.close()


def test_calls_list_filters_and_opens_a_call(page: Any, dashboard_url: str, tmp_path: Path) -> None:
    page.goto(dashboard_url)
    assert page.title() == "Calls · callcrew"
    rows = page.locator("table.calls tbody tr")
    assert rows.count() == len(PLAN)
    _shot(page, tmp_path, "dashboard-calls")

    page.select_option("select[name=outcome]", "booked")
    page.click("button[type=submit]")
    page.wait_for_url("**/?*outcome=booked*")
    assert rows.count() == sum(1 for p in PLAN if p[2] == "booked")
    outcomes = set(page.locator("table.calls tbody td .outcome").all_inner_texts())
    assert outcomes == {"booked"}

    page.fill("input[name=since]", "2026-06-08")
    page.fill("input[name=until]", "2026-06-08")
    page.click("button[type=submit]")
    assert rows.count() == 1
    page.click("text=clear")
    assert rows.count() == len(PLAN)

    page.click(f"a[href='/calls/{AUDIO_CALL}']")
    page.wait_for_url(f"**/calls/{AUDIO_CALL}")
    assert page.locator("h1").inner_text() == f"Call {AUDIO_CALL}"
    transcript = page.locator("ol.transcript")
    assert transcript.locator("li.caller").count() >= 2
    assert transcript.locator("li.tool").count() >= 1
    handoffs = transcript.locator("li.handoff").all_inner_texts()
    assert any("hand-off intro" in h for h in handoffs), handoffs
    waterfall = page.locator("svg.waterfall")
    assert waterfall.is_visible()
    assert waterfall.locator("rect.span").count() >= 4
    assert page.locator("table.costs tr.total td").inner_text().startswith("$")
    # The recording plays from the dashboard itself.
    assert page.locator("audio").get_attribute("src") == f"/calls/{AUDIO_CALL}/audio"
    # (the page's own scripts could not fetch it: the CSP allows no connections at all)
    audio = page.request.get(dashboard_url.rstrip("/") + f"/calls/{AUDIO_CALL}/audio")
    assert audio.status == 200 and audio.body()[:4] == b"RIFF"
    _shot(page, tmp_path, "dashboard-call")


def test_overview_charts(page: Any, dashboard_url: str, tmp_path: Path) -> None:
    page.goto(dashboard_url + "overview")
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for i in range(4):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 80
    outcomes = charts.nth(0)
    assert outcomes.locator("rect.bar").count() >= len({p[0] for p in PLAN})
    assert "booked" in (outcomes.text_content() or "")
    cost = charts.nth(2)
    assert cost.locator("polyline[stroke-dasharray]").count() == 1  # the planner's line
    assert "planned per call" in (cost.text_content() or "")
    _shot(page, tmp_path, "dashboard-overview")
