"""The call report: one record per call, built from the call state and the session's history.

Written by the worker when a session ends (and when it fails) and by the simulator after a
rehearsal, so both paths produce the same shape (DESIGN.md, "Call report").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from livekit.agents import llm
from livekit.agents.metrics.usage import (
    AgentSessionUsage,
    LLMModelUsage,
    STTModelUsage,
    TTSModelUsage,
)

from callcrew.call import CallInfo, CallState, Outcome

REPORT_VERSION = 1
# Per-turn figures LiveKit records on each assistant ChatMessage (seconds).
LATENCY_KEYS = (
    "end_of_turn_delay",
    "transcription_delay",
    "llm_node_ttft",
    "tts_node_ttfb",
    "e2e_latency",
)


def mask_number(number: str | None) -> str | None:
    """+15551234567 -> +1555***4567: enough to tell calls apart in logs, not to dial."""
    if not number:
        return number
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 6:
        return "***"
    return f"+{digits[:4]}***{digits[-4:]}"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def transcript(history: llm.ChatContext) -> list[dict[str, Any]]:
    """What was said, by whom, when; tool calls and hand-offs are kept as events."""
    out: list[dict[str, Any]] = []
    for item in history.items:
        if item.type == "message" and item.role in ("user", "assistant"):
            text = item.text_content or ""
            if not text:
                continue
            entry: dict[str, Any] = {
                "role": "caller" if item.role == "user" else "agent",
                "text": text,
                "time": _iso(item.created_at),
            }
            if item.interrupted:
                entry["interrupted"] = True
            out.append(entry)
        elif item.type == "function_call":
            out.append(
                {
                    "role": "tool_call",
                    "name": item.name,
                    "arguments": item.arguments,
                    "time": _iso(item.created_at),
                }
            )
        elif item.type == "function_call_output":
            out.append(
                {
                    "role": "tool_result",
                    "name": item.name,
                    "output": item.output,
                    "is_error": item.is_error,
                    "time": _iso(item.created_at),
                }
            )
        elif item.type == "agent_handoff":
            out.append(
                {
                    "role": "handoff",
                    "from": item.old_agent_id,
                    "to": item.new_agent_id,
                    "time": _iso(item.created_at),
                }
            )
    return out


def turns(history: llm.ChatContext) -> list[dict[str, Any]]:
    """Per-turn latency from LiveKit's metrics on each agent message.

    `e2e_latency` is LiveKit's figure: it starts at the VAD's end-of-speech estimate, which
    lags the caller's true end of speech by ~100 ms, so it is labelled as LiveKit's.
    """
    rows: list[dict[str, Any]] = []
    for item in history.items:
        if item.type != "message" or item.role != "assistant":
            continue
        metrics = dict(item.metrics or {})
        row: dict[str, Any] = {"index": len(rows), "first": not rows, "text": item.text_content}
        for key in LATENCY_KEYS:
            value = metrics.get(key)
            row[key] = round(float(value), 4) if isinstance(value, int | float) else None
        tps = metrics.get("llm_node_tps")
        row["llm_tokens_per_s"] = round(float(tps), 1) if isinstance(tps, int | float) else None
        row["interrupted"] = bool(item.interrupted)
        rows.append(row)
    return rows


def usage_rows(usage: AgentSessionUsage | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for u in usage.model_usage if usage else []:
        if isinstance(u, LLMModelUsage):
            rows.append(
                {
                    "kind": "llm",
                    "provider": u.provider,
                    "model": u.model,
                    "input_tokens": u.input_tokens,
                    "cached_input_tokens": u.input_cached_tokens,
                    "output_tokens": u.output_tokens,
                }
            )
        elif isinstance(u, TTSModelUsage):
            rows.append(
                {
                    "kind": "tts",
                    "provider": u.provider,
                    "model": u.model,
                    "characters": u.characters_count,
                    "audio_s": round(u.audio_duration, 3),
                }
            )
        elif isinstance(u, STTModelUsage):
            rows.append(
                {
                    "kind": "stt",
                    "provider": u.provider,
                    "model": u.model,
                    "audio_s": round(u.audio_duration, 3),
                }
            )
    return rows


def build_report(
    state: CallState | None,
    *,
    info: CallInfo,
    history: llm.ChatContext | None,
    usage: AgentSessionUsage | None,
    stack: str,
    ended_at: datetime | None = None,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete report even when the call failed before the crew existed (state is None)."""
    ended = ended_at or datetime.now(UTC)
    outcome = state.outcome if state else Outcome.FAILED
    if outcome is Outcome.IN_PROGRESS:
        # Nobody set an ending: the caller left mid-call (or the session broke).
        outcome = Outcome.FAILED if error else Outcome.CALLER_HUNG_UP
    errors = list(state.errors) if state else []
    if error:
        errors.append(error)
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "call_id": info.call_id,
        "room": info.room,
        "channel": info.channel.value,
        "caller_number": info.caller_number,
        "dialled_number": info.dialled_number,
        "started_at": info.started_at.isoformat(),
        "ended_at": ended.isoformat(),
        "duration_s": round((ended - info.started_at).total_seconds(), 3),
        "stack": stack,
        "outcome": outcome.value,
        "ended_by": state.ended_by if state else "error",
        "agents_visited": list(state.agents_visited) if state else [],
        "transcript": transcript(history) if history is not None else [],
        "turns": turns(history) if history is not None else [],
        "usage": usage_rows(usage),
        "cost": None,  # filled by the pricing step when a catalog is configured
        "errors": errors,
        "crew": state.report_extras() if state else {},
    }
    if extra:
        report.update(extra)
    return report
