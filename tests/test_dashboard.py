"""The dashboard over HTTP: filters, pages, the token, refusing to listen openly.

The app is served for real on 127.0.0.1 (aiohttp's test server) over a store of rehearsal
reports (tests/dashboard_data.py); the browser tests are in test_dashboard_browser.py.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from callcrew.cli import app as cli_app
from callcrew.dashboard import charts, query, views
from callcrew.dashboard.app import DashboardConfig, build_app, planned_per_call
from callcrew.dashboard.cli import is_loopback
from callcrew.store import Store, open_store
from tests.dashboard_data import AUDIO_CALL, PLAN, fill_store

pytestmark = pytest.mark.unit

TOKEN = "s3cret-dashboard-token"


@pytest.fixture(scope="module")
def filled(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    folder = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{folder / 'calls.db'}"
    reports = fill_store(url, folder)
    store = open_store(url)
    yield store, reports
    store.close()


async def _client(config: DashboardConfig) -> AsyncIterator[TestClient[Any, Any]]:
    server = TestServer(build_app(config), host="127.0.0.1", port=0)
    async with TestClient(server) as client:
        yield client


@pytest.fixture
async def client(
    filled: tuple[Store, list[dict[str, Any]]],
) -> AsyncIterator[TestClient[Any, Any]]:
    config = DashboardConfig(
        store=filled[0], store_label="sqlite:///calls.db", planned_per_call=0.09
    )
    async for c in _client(config):
        yield c


# --- filters -------------------------------------------------------------------------------


def test_bad_filter_values_are_dropped_and_named() -> None:
    f = query.parse_filters({"since": "June", "min_cost": "-1", "max_cost": "nan", "agent": " x "})
    assert f.since is None and f.min_cost is None and f.max_cost is None
    assert f.agent == "x"
    assert len(f.problems) == 3 and "since" in f.problems[0]


def test_filters_round_trip_through_the_query_string() -> None:
    f = query.parse_filters({"since": "2026-06-08", "outcome": "booked", "max_cost": "0.5"})
    again = query.parse_filters(dict(p.split("=") for p in f.query_string().split("&")))
    assert again == f


def test_filters_the_store_cannot_apply(filled: tuple[Store, list[dict[str, Any]]]) -> None:
    store, reports = filled
    assert len(query.load_reports(store, query.Filters())) == len(PLAN)
    until = query.load_reports(store, query.Filters(until=date(2026, 6, 9)))
    assert {r["call_id"] for r in until} == {"dash-0", "dash-1", "dash-2"}
    costs = sorted(r["cost"]["total"] for r in reports)
    cheap = query.load_reports(store, query.Filters(max_cost=costs[0]))
    assert cheap and all(r["cost"]["total"] <= costs[0] for r in cheap)
    agent = reports[0]["agents_visited"][-1]
    assert all(
        agent in r["agents_visited"] for r in query.load_reports(store, query.Filters(agent=agent))
    )
    assert query.load_reports(store, query.Filters(agent="nobody")) == []


# --- pages ---------------------------------------------------------------------------------


async def test_calls_list_shows_every_call_and_filters(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/")).text()
    assert page.count('href="/calls/dash-') == len(PLAN)
    assert "+15550142233" not in page and "+1555***2233" in page  # numbers masked
    booked = await (await client.get("/", params={"outcome": "booked"})).text()
    assert booked.count('href="/calls/dash-') == sum(1 for p in PLAN if p[2] == "booked")
    none = await (await client.get("/", params={"channel": "sip-nope"})).text()
    assert "No calls match these filters." in none


async def test_call_page_has_transcript_tools_handoffs_latency_cost(
    client: TestClient[Any, Any], filled: tuple[Store, list[dict[str, Any]]]
) -> None:
    response = await client.get(f"/calls/{AUDIO_CALL}")
    assert response.status == 200
    page = await response.text()
    report = filled[1][0]
    first_line = next(t["text"] for t in report["transcript"] if t["role"] == "caller")
    assert first_line.split(",")[0] in page
    assert "hand_off_to_desk(" in page and "hand-off intro" in page
    assert 'class="chart waterfall"' in page and "true wait" in page and "LLM TTFT" in page
    assert "total" in page and "$" in page
    # The analysis is shown as text, never as markup.
    assert "&lt;b&gt;Tuesday&lt;/b&gt;" in page and "<b>Tuesday</b>" not in page
    assert f'src="/calls/{AUDIO_CALL}/audio"' in page
    audio = await client.get(f"/calls/{AUDIO_CALL}/audio")
    assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
    other = await (await client.get("/calls/dash-1")).text()
    assert "<audio" not in other
    assert (await client.get("/calls/dash-1/audio")).status == 404


async def test_unknown_call_is_a_404_with_the_security_headers(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/calls/does-not-exist")
    assert response.status == 404
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert (await client.get("/static/../app.py")).status == 404


async def test_overview_charts_per_day_against_the_plan(client: TestClient[Any, Any]) -> None:
    page = await (await client.get("/overview")).text()
    assert page.count("<svg") == 4
    assert "planned per call" in page and "$0.0900" in page
    assert "06-08" in page and "06-14" in page  # the whole week, quiet days included
    assert "LiveKit e2e p95" in page and "true wait p50" in page
    one_day = await (
        await client.get("/overview", params={"since": "2026-06-10", "until": "2026-06-10"})
    ).text()
    assert "<dt>calls</dt><dd>2</dd>" in one_day


async def test_no_database_yet_says_so() -> None:
    async for c in _client(DashboardConfig(store=None, store_label="sqlite:///var/x.db")):
        page = await (await c.get("/")).text()
        assert "No database yet at sqlite:///var/x.db" in page
        assert (await c.get("/overview")).status == 200


# --- the token -----------------------------------------------------------------------------


async def test_token_required_for_every_page(filled: tuple[Store, list[dict[str, Any]]]) -> None:
    config = DashboardConfig(store=filled[0], store_label="db", token=TOKEN)
    async for c in _client(config):
        for path in ("/", "/overview", f"/calls/{AUDIO_CALL}", "/static/style.css"):
            denied = await c.get(path)
            assert denied.status == 401
            assert denied.headers["WWW-Authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"ops:guess").decode()
        assert (await c.get("/", headers={"Authorization": f"Basic {wrong}"})).status == 401
        assert (await c.get("/", headers={"Authorization": "Basic !!"})).status == 401
        good = base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
        assert (await c.get("/", headers={"Authorization": f"Basic {good}"})).status == 200
        assert (await c.get("/", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("", False),
        ("10.0.0.5", False),
        ("dash.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_refuses_to_listen_beyond_loopback_without_a_token() -> None:
    result = CliRunner().invoke(cli_app, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "DASHBOARD_TOKEN" in result.output and "Traceback" not in result.output


def test_a_bad_database_url_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(cli_app, ["dashboard", "--database-url", "mysql://x/y"])
    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output and "Traceback" not in result.output


def test_planned_per_call_comes_from_the_planner() -> None:
    economy = planned_per_call("economy", None)
    assert economy is not None and 0 < economy < 1
    assert planned_per_call("no-such-stack", None) is None


# --- charts --------------------------------------------------------------------------------


def test_charts_escape_labels_and_leave_gaps() -> None:
    svg = charts.lines("t", ["a<b", "c"], [charts.Series("x&y", [None, 1.0])], "s")
    assert "a&lt;b" in svg and "x&amp;y" in svg and "<polyline" not in svg  # one point: no line
    bars = charts.stacked_bars("t", ["d1"], [charts.Series("booked", [3]), charts.Series("x", [0])])
    assert bars.count('class="bar"') == 1  # a zero segment draws nothing


def test_waterfall_stages_follow_each_other() -> None:
    turn = {
        "end_of_turn_delay": 0.5,
        "transcription_delay": 0.4,
        "llm_node_ttft": 0.3,
        "tts_node_ttfb": 0.2,
        "e2e_latency": 1.0,
        "true_wait_s": 1.1,
    }
    spans = {s.stage: s for s in views.turn_spans(turn)}
    assert spans["LLM TTFT"].start == 0.5
    assert spans["TTS TTFB"].start == pytest.approx(0.8)
    assert spans["true wait"].length == 1.1
    assert views.turn_spans({"e2e_latency": None}) == []
