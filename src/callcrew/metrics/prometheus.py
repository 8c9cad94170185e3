"""callcrew's Prometheus metrics, served beside LiveKit's own on the worker's `/metrics`.

LiveKit's AgentServer already serves `lk_agents_*` (active jobs, worker load, process start
time) on `PROMETHEUS_PORT`; these join them in the same registry. Calls are counted from the
call report at session end, so the numbers agree with `callcrew calls` and the dashboard. Jobs
run in child processes: with `PROMETHEUS_MULTIPROC_DIR` set (the worker sets it from settings)
prometheus_client keeps each process's values in files there and the endpoint sums them.

Labels are bounded: channel, outcome, stage, component, block kind and provider; never a room,
a caller or a call id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from callcrew.metrics.stats import COST_COMPONENTS

logger = logging.getLogger("callcrew.metrics")

# Report turn field -> stage label.
STAGES: dict[str, str] = {
    "end_of_turn_delay": "end_of_turn",
    "transcription_delay": "stt",
    "llm_node_ttft": "llm_ttft",
    "tts_node_ttfb": "tts_ttfb",
    "e2e_latency": "e2e_livekit",
    "true_wait_s": "true_wait",
}
LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
DURATION_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)

CALLS_ACTIVE = Gauge(
    "callcrew_calls_active",
    "Calls in progress on this worker",
    ["channel"],
    multiprocess_mode="livesum",
)
CALLS = Counter(
    "callcrew_calls",
    "Calls ended, by channel and outcome (from the call report)",
    ["channel", "outcome"],
)
CALL_SECONDS = Histogram(
    "callcrew_call_duration_seconds",
    "Call duration",
    ["channel"],
    buckets=DURATION_BUCKETS,
)
TURN_LATENCY = Histogram(
    "callcrew_turn_latency_seconds",
    "Per-turn latency by stage; e2e_livekit counts from the VAD anchor (~100 ms late), "
    "true_wait from the caller's real end of speech (audio rehearsals only)",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
COST = Counter(
    "callcrew_cost_usd",
    "Dollars spent on calls by component (priced with the configured catalog)",
    ["component"],
)
PROVIDER_ERRORS = Counter(
    "callcrew_provider_errors",
    "Errors reported by an STT, LLM or TTS block",
    ["kind", "provider", "recoverable"],
)
FALLBACKS = Counter(
    "callcrew_provider_fallbacks",
    "A provider marked unavailable by a FallbackAdapter (the next one takes over)",
    ["kind", "provider"],
)

_active: dict[str, str] = {}  # call_id -> channel, for calls counted in CALLS_ACTIVE
_lock = threading.Lock()


def call_started(call_id: str, channel: str) -> None:
    with _lock:
        if call_id in _active:
            return
        _active[call_id] = channel
    CALLS_ACTIVE.labels(channel=channel).inc()


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def observe_report(report: Mapping[str, Any]) -> None:
    """Count one finished call from its report (never raises: metrics must not cost a call)."""
    try:
        _observe(report)
    except Exception:
        logger.exception("call %s: metrics not recorded", report.get("call_id"))


def _observe(report: Mapping[str, Any]) -> None:
    channel = str(report.get("channel") or "unknown")
    with _lock:
        started_as = _active.pop(str(report.get("call_id")), None)
    if started_as is not None:
        CALLS_ACTIVE.labels(channel=started_as).dec()
    CALLS.labels(channel=channel, outcome=str(report.get("outcome") or "unknown")).inc()
    duration = _number(report.get("duration_s"))
    if duration is not None and duration >= 0:
        CALL_SECONDS.labels(channel=channel).observe(duration)
    for turn in report.get("turns") or []:
        for key, stage in STAGES.items():
            value = _number(turn.get(key))
            if value is not None and value >= 0:
                TURN_LATENCY.labels(stage=stage).observe(value)
    cost = report.get("cost")
    if isinstance(cost, Mapping):
        for component in COST_COMPONENTS:
            amount = _number(cost.get(component))
            if amount is not None and amount > 0:
                COST.labels(component=component).inc(amount)


def _kind(source: Any) -> str:
    from livekit.agents import llm, stt, tts

    if isinstance(source, llm.LLM):
        return "llm"
    if isinstance(source, stt.STT):
        return "stt"
    if isinstance(source, tts.TTS):
        return "tts"
    return "other"


def _provider(source: Any) -> str:
    provider = getattr(source, "provider", None)
    return str(provider) if provider else type(source).__name__


def provider_error(source: Any, recoverable: bool) -> None:
    PROVIDER_ERRORS.labels(
        kind=_kind(source), provider=_provider(source), recoverable=str(bool(recoverable)).lower()
    ).inc()


def fallback(kind: str, source: Any) -> None:
    FALLBACKS.labels(kind=kind, provider=_provider(source)).inc()


def watch_session(session: Any) -> None:
    """Count the session's provider errors, and fallbacks of any FallbackAdapter in it."""
    from callcrew.providers.fallback import adapter_of

    def on_error(ev: Any) -> None:
        provider_error(ev.source, bool(getattr(ev.error, "recoverable", False)))

    session.on("error", on_error)
    for kind in ("llm", "stt", "tts"):
        block = adapter_of(getattr(session, kind, None))  # the chain inside our wrappers
        if block is None:
            continue

        def on_change(ev: Any, kind: str = kind) -> None:
            if not ev.available:
                fallback(kind, getattr(ev, kind, None))

        block.on(f"{kind}_availability_changed", on_change)
