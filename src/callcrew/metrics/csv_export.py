"""`callcrew calls export --format csv`: one flat row per call report, in fixed columns."""

from __future__ import annotations

from typing import Any

from callcrew.metrics.report import mask_number
from callcrew.metrics.stats import (
    COST_COMPONENTS,
    as_float,
    call_percentile,
    cost_of,
    turn_values,
)

CSV_COLUMNS: tuple[str, ...] = (
    "call_id",
    "started_at",
    "ended_at",
    "duration_s",
    "channel",
    "caller_number",
    "dialled_number",
    "room",
    "stack",
    "outcome",
    "ended_by",
    "agents_visited",
    "agent_turns",
    "caller_turns",
    "interrupted_turns",
    "tool_calls",
    "tool_errors",
    "errors",
    "e2e_p50_s",
    "e2e_p95_s",
    "llm_ttft_first_s",
    "llm_ttft_p50_s",
    "tts_ttfb_p50_s",
    "true_wait_p50_s",
    "llm_input_tokens",
    "llm_cached_input_tokens",
    "llm_output_tokens",
    "tts_characters",
    "tts_audio_s",
    "stt_audio_s",
    "cost_livekit",
    "cost_stt",
    "cost_llm",
    "cost_tts",
    "cost_telephony",
    "cost_total",
    "cost_estimated",
    "cost_catalog",
    "cost_minutes",
)


def _round(value: float | None, places: int = 4) -> float | None:
    return None if value is None else round(value, places)


def flat_row(report: dict[str, Any], *, mask: bool = False) -> dict[str, Any]:
    """One CSV row per call: identity, outcome, counts, latency percentiles, usage, cost."""
    said = report.get("transcript") or []
    turns = report.get("turns") or []
    usage = report.get("usage") or []

    def usage_sum(kind: str, key: str) -> float | int:
        values = [row.get(key) for row in usage if row.get("kind") == kind]
        ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        if len(ints) == len(values):
            return sum(ints)
        return round(sum(as_float(v) or 0.0 for v in values), 3)

    first_ttft, _ = turn_values(report, "llm_node_ttft")
    cost = cost_of(report) or {}
    numbers = {
        k: (mask_number(report.get(k)) if mask else report.get(k))
        for k in ("caller_number", "dialled_number")
    }
    return {
        "call_id": report.get("call_id"),
        "started_at": report.get("started_at"),
        "ended_at": report.get("ended_at"),
        "duration_s": report.get("duration_s"),
        "channel": report.get("channel"),
        **numbers,
        "room": report.get("room"),
        "stack": report.get("stack"),
        "outcome": report.get("outcome"),
        "ended_by": report.get("ended_by"),
        "agents_visited": " > ".join(report.get("agents_visited") or []),
        "agent_turns": len(turns),
        "caller_turns": sum(1 for t in said if t.get("role") == "caller"),
        "interrupted_turns": sum(1 for t in turns if t.get("interrupted")),
        "tool_calls": sum(1 for t in said if t.get("role") == "tool_call"),
        "tool_errors": sum(1 for t in said if t.get("role") == "tool_result" and t.get("is_error")),
        "errors": "; ".join(str(e) for e in report.get("errors") or []),
        "e2e_p50_s": _round(call_percentile(report, "e2e_latency", 50)),
        "e2e_p95_s": _round(call_percentile(report, "e2e_latency", 95)),
        "llm_ttft_first_s": first_ttft[0] if first_ttft else None,
        "llm_ttft_p50_s": _round(call_percentile(report, "llm_node_ttft", 50)),
        "tts_ttfb_p50_s": _round(call_percentile(report, "tts_node_ttfb", 50)),
        "true_wait_p50_s": _round(call_percentile(report, "true_wait_s", 50)),
        "llm_input_tokens": usage_sum("llm", "input_tokens"),
        "llm_cached_input_tokens": usage_sum("llm", "cached_input_tokens"),
        "llm_output_tokens": usage_sum("llm", "output_tokens"),
        "tts_characters": usage_sum("tts", "characters"),
        "tts_audio_s": usage_sum("tts", "audio_s"),
        "stt_audio_s": usage_sum("stt", "audio_s"),
        **{f"cost_{c}": cost.get(c) for c in (*COST_COMPONENTS, "total")},
        "cost_estimated": cost.get("estimated"),
        "cost_catalog": cost.get("catalog"),
        "cost_minutes": cost.get("minutes"),
    }
