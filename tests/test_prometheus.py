"""Prometheus metrics, scraped over HTTP from LiveKit's own metrics server (the worker's).

In-process: a report counted here shows on `/metrics` beside LiveKit's `lk_agents_*`.
Multiprocess: a job process (a real subprocess) counts a call and the endpoint, reading
PROMETHEUS_MULTIPROC_DIR as the worker does, serves its numbers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit.agents.telemetry.http_server import HttpServer
from prometheus_client.parser import text_string_to_metric_families

from callcrew import worker
from callcrew.metrics import prometheus
from callcrew.settings import Settings

pytestmark = pytest.mark.unit


LAST_SCRAPE: list[str] = []


def _report(call_id: str, **changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "call_id": call_id,
        "channel": "inbound",
        "outcome": "booked",
        "duration_s": 42.0,
        "turns": [
            {"index": 0, "first": True, "e2e_latency": None},
            {
                "index": 1,
                "end_of_turn_delay": 0.55,
                "transcription_delay": 0.5,
                "llm_node_ttft": 0.4,
                "tts_node_ttfb": 0.2,
                "e2e_latency": 1.15,
                "true_wait_s": 1.25,
            },
        ],
        "cost": {"livekit": 0.01, "stt": 0.002, "llm": 0.003, "tts": 0.02, "telephony": 0.0},
    }
    report.update(changes)
    return report


async def _scrape(
    env_multiproc: bool = False,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    server = HttpServer("127.0.0.1", 0)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    finally:
        await server.aclose()
    LAST_SCRAPE[:] = [text]
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _get(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_finished_call_shows_on_the_worker_endpoint() -> None:
    before = await _scrape()
    prometheus.call_started("prom-1", "inbound")
    during = await _scrape()
    assert _get(during, "callcrew_calls_active", channel="inbound") == (
        _get(before, "callcrew_calls_active", channel="inbound") + 1
    )
    prometheus.observe_report(_report("prom-1"))
    after = await _scrape()
    assert "lk_agents_active_job_count" in LAST_SCRAPE[0]  # LiveKit's own, same endpoint
    assert _get(after, "callcrew_calls_active", channel="inbound") == _get(
        before, "callcrew_calls_active", channel="inbound"
    )
    calls = "callcrew_calls_total"
    assert _get(after, calls, channel="inbound", outcome="booked") == (
        _get(before, calls, channel="inbound", outcome="booked") + 1
    )
    hist = "callcrew_turn_latency_seconds_count"
    for stage in ("end_of_turn", "stt", "llm_ttft", "tts_ttfb", "e2e_livekit", "true_wait"):
        assert _get(after, hist, stage=stage) == _get(before, hist, stage=stage) + 1, stage
    # 1.15 s falls in the 1.5 s bucket, not the 1.0 s one.
    bucket = "callcrew_turn_latency_seconds_bucket"
    e2e_15 = _get(after, bucket, stage="e2e_livekit", le="1.5") - _get(
        before, bucket, stage="e2e_livekit", le="1.5"
    )
    e2e_10 = _get(after, bucket, stage="e2e_livekit", le="1.0") - _get(
        before, bucket, stage="e2e_livekit", le="1.0"
    )
    assert (e2e_15, e2e_10) == (1, 0)
    tts = _get(after, "callcrew_cost_usd_total", component="tts") - _get(
        before, "callcrew_cost_usd_total", component="tts"
    )
    assert tts == pytest.approx(0.02)
    assert _get(after, "callcrew_call_duration_seconds_sum", channel="inbound") - _get(
        before, "callcrew_call_duration_seconds_sum", channel="inbound"
    ) == pytest.approx(42.0)


async def test_a_call_that_never_started_does_not_go_negative() -> None:
    before = await _scrape()
    prometheus.observe_report(_report("prom-never-started", channel="web", outcome="failed"))
    prometheus.observe_report({"call_id": "prom-bad", "turns": "not a list", "cost": 3})
    after = await _scrape()
    assert _get(after, "callcrew_calls_active", channel="web") == _get(
        before, "callcrew_calls_active", channel="web"
    )
    assert _get(after, "callcrew_calls_total", channel="web", outcome="failed") == (
        _get(before, "callcrew_calls_total", channel="web", outcome="failed") + 1
    )


async def test_provider_errors_and_fallbacks_are_counted() -> None:
    from livekit.agents import llm
    from livekit.agents.llm import FallbackAdapter
    from livekit.agents.llm.fallback_adapter import AvailabilityChangedEvent

    from callcrew.simulate.replay import ReplayLLM, ReplayScript

    primary, backup = ReplayLLM(ReplayScript(turns={})), ReplayLLM(ReplayScript(turns={}))
    adapter = FallbackAdapter([primary, backup])

    class Session:  # the two emitters watch_session subscribes to
        def __init__(self) -> None:
            self.llm: llm.LLM[Any] = adapter
            self.stt = None
            self.tts = None
            self.handlers: dict[str, Any] = {}

        def on(self, event: str, handler: Any) -> None:
            self.handlers[event] = handler

    before = await _scrape()
    session = Session()
    prometheus.watch_session(session)

    class Err:
        recoverable = True

    class Ev:
        source = primary
        error = Err()

    session.handlers["error"](Ev())
    adapter.emit("llm_availability_changed", AvailabilityChangedEvent(llm=primary, available=False))
    adapter.emit("llm_availability_changed", AvailabilityChangedEvent(llm=primary, available=True))
    after = await _scrape()
    provider = primary.provider
    errors = "callcrew_provider_errors_total"
    assert _get(after, errors, kind="llm", provider=provider, recoverable="true") == (
        _get(before, errors, kind="llm", provider=provider, recoverable="true") + 1
    )
    falls = "callcrew_provider_fallbacks_total"
    assert _get(after, falls, kind="llm", provider=provider) == (
        _get(before, falls, kind="llm", provider=provider) + 1  # recovery is not a fallback
    )


JOB = """
import json, sys
from callcrew.metrics import prometheus
prometheus.call_started("job-1", "outbound")
prometheus.observe_report(json.loads(sys.argv[1]))
"""


async def test_job_processes_are_summed_through_the_multiprocess_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prom"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    report = json.dumps(_report("job-1", channel="outbound", outcome="no_answer"))
    for _ in range(2):  # two job processes
        subprocess.run([sys.executable, "-c", JOB, report], env=env, check=True, timeout=120)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    samples = await _scrape()
    assert _get(samples, "callcrew_calls_total", channel="outbound", outcome="no_answer") == 2
    # Each job process ended its call, so none is active.
    assert _get(samples, "callcrew_calls_active", channel="outbound") == 0


def test_worker_serves_metrics_only_when_a_port_is_set(tmp_path: Path) -> None:
    plain = worker.build_server(Settings(_env_file=None))  # type: ignore[call-arg]
    assert plain._prometheus_port is None
    with_port = worker.build_server(
        Settings(_env_file=None, prometheus_port=9464, prometheus_multiproc_dir=tmp_path / "p")  # type: ignore[call-arg]
    )
    assert with_port._prometheus_port == 9464
    assert with_port._prometheus_multiproc_dir == str((tmp_path / "p").resolve())
