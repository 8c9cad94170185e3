"""The call report: one record per call, built from the call state and the session's history.

Written by the worker when a session ends (and when it fails) and by the simulator after a
rehearsal, so both paths produce the same shape (DESIGN.md, "Call report").
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeGuard

from callcrew.call import CallInfo, CallState, Outcome
from callcrew.metrics.agent_usage import agents_section
from callcrew.scrub import scrub

if TYPE_CHECKING:  # `callcrew calls` reads reports without loading the agent framework
    from livekit.agents import llm
    from livekit.agents.metrics.usage import AgentSessionUsage

REPORT_VERSION = 1
# Per-turn figures LiveKit records on each assistant ChatMessage (seconds).
LATENCY_KEYS = (
    "end_of_turn_delay",
    "transcription_delay",
    "llm_node_ttft",
    "tts_node_ttfb",
    "e2e_latency",
)
# LiveKit keeps these two on the caller's message; a turn takes them from the line it answers.
CALLER_LATENCY_KEYS = ("end_of_turn_delay", "transcription_delay")

# How to read the per-turn figures; stored in every report as `latency_notes`.
LATENCY_NOTES: dict[str, str] = {
    "e2e_latency_source": "livekit_vad_anchor",
    "e2e_latency": (
        "LiveKit's figure: from the VAD's end-of-speech estimate to the agent's first audio. "
        "The VAD anchor lands ~100 ms (70-155 ms) after the caller really stopped, so this "
        "under-reports the caller's wait by about that much."
    ),
    "true_wait_s": (
        "The caller's real wait: the agent's first audio minus the caller's true end of speech, "
        "measured at the audio boundary. null unless that end of speech is known (audio "
        "rehearsals)."
    ),
    "end_of_turn_delay": (
        "transcription_delay and end_of_turn_delay are LiveKit's, taken from the caller line "
        "the turn answers; also counted from the VAD anchor."
    ),
    "llm_node_ttft": "LLM time to first token and tts_node_ttfb (TTS first byte) are exact.",
    "first": (
        "Turn 0 (first: true) is the call's first agent turn, usually the fixed greeting; its "
        "figures are kept apart from later turns."
    ),
}


BlockKind = Literal["stt", "llm", "tts"]


class ProviderServed(TypedDict):
    """A provider answered: `line` counts the caller lines heard before it (0: none yet)."""

    block: BlockKind
    provider: str  # provider/model, as in the settings
    line: int
    at: str


class ProviderSwitch(TypedDict):
    """A provider marked unavailable (or back): `to` is the one that served next, if any."""

    block: BlockKind
    provider: str
    available: bool  # False: switched away; True: recovered
    reason: str | None  # scrubbed error text
    to: str | None
    at: str


class ProvidersReport(TypedDict):
    """The report's `providers`: the chains, who served, each switch, blocks that failed."""

    chains: dict[str, list[str]]
    served: list[ProviderServed]
    switches: list[ProviderSwitch]
    failed_blocks: list[BlockKind]


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
                # Cut short: `text` is what LiveKit says was played (its synchronized
                # transcript when the output has one); `heard_s` how long it played.
                entry["interrupted"] = True
                m = item.metrics or {}
                start, stop = m.get("started_speaking_at"), m.get("stopped_speaking_at")
                if _is_number(start) and _is_number(stop):
                    entry["heard_s"] = round(float(stop) - float(start), 2)
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


def turns(
    history: llm.ChatContext, true_end_of_speech: dict[int, float] | None = None
) -> list[dict[str, Any]]:
    """Per-turn latency, one row per agent message, from LiveKit's metrics.

    `e2e_latency` is LiveKit's figure: it starts at the VAD's end-of-speech estimate, which
    lags the caller's true end of speech by ~100 ms, so it is labelled as LiveKit's (see
    `LATENCY_NOTES`). `true_wait_s` is the honest figure, the agent's first audio minus the
    caller's true end of speech; it needs `true_end_of_speech`, wall-clock timestamps (seconds
    since the epoch) keyed by turn `index`, which only an audio rehearsal knows. Otherwise None.
    """
    rows: list[dict[str, Any]] = []
    caller: dict[str, Any] = {}  # metrics of the caller line not yet answered
    for item in history.items:
        if item.type != "message":
            continue
        if item.role == "user":
            caller = dict(item.metrics or {})
            continue
        if item.role != "assistant":
            continue
        metrics = dict(item.metrics or {})
        for key in CALLER_LATENCY_KEYS:
            if key not in metrics and key in caller:
                metrics[key] = caller[key]
        caller = {}
        index = len(rows)
        row: dict[str, Any] = {"index": index, "first": not rows, "text": item.text_content}
        for key in LATENCY_KEYS:
            row[key] = _seconds(metrics.get(key))
        tps = metrics.get("llm_node_tps")
        row["llm_tokens_per_s"] = round(float(tps), 1) if _is_number(tps) else None
        row["interrupted"] = bool(item.interrupted)
        row["true_wait_s"] = true_wait(
            metrics.get("started_speaking_at"), index, true_end_of_speech
        )
        rows.append(row)
    return rows


def true_wait(
    agent_audio_at: Any, index: int, true_end_of_speech: dict[int, float] | None
) -> float | None:
    """First agent audio minus the caller's true end of speech for turn `index`, if both known."""
    if not true_end_of_speech or not _is_number(agent_audio_at):
        return None
    ended: object = true_end_of_speech.get(index)
    if not _is_number(ended):
        return None
    return round(float(agent_audio_at) - float(ended), 4)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _seconds(value: Any) -> float | None:
    return round(float(value), 4) if _is_number(value) else None


def usage_rows(usage: AgentSessionUsage | None) -> list[dict[str, Any]]:
    from livekit.agents.metrics.usage import LLMModelUsage, STTModelUsage, TTSModelUsage

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
    true_end_of_speech: dict[int, float] | None = None,
    providers: ProvidersReport | None = None,
) -> dict[str, Any]:
    """A complete report even when the call failed before the crew existed (state is None).

    `true_end_of_speech` (turn index -> wall-clock time the caller really stopped) fills each
    turn's `true_wait_s`; see `turns`.
    """
    ended = ended_at or datetime.now(UTC)
    outcome: str = state.outcome if state else Outcome.FAILED
    if outcome == Outcome.IN_PROGRESS:
        # Nobody set an ending: the caller left mid-call (or the session broke).
        outcome = Outcome.FAILED if error else Outcome.CALLER_HUNG_UP
    errors = list(state.errors) if state else []
    if error:
        errors.append(error)
    # Upstream error bodies can echo keys and auth headers: every recorded error is scrubbed.
    errors = [scrub(e) for e in errors]
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
        "outcome": str(outcome),
        # Never empty (endings.py): a report nobody's ending marked is a caller who left.
        "ended_by": (state.ended_by or ("error" if error else "caller")) if state else "error",
        "agents_visited": list(state.agents_visited) if state else [],
        "keypad": [k.as_dict() for k in state.keypad] if state else [],
        "transcript": transcript(history) if history is not None else [],
        "turns": turns(history, true_end_of_speech) if history is not None else [],
        "latency_notes": dict(LATENCY_NOTES),
        "usage": usage_rows(usage),
        # The same usage per agent, with each agent's provider overrides (agent_usage.py).
        "agents": agents_section(state),
        "cost": None,  # filled by the pricing step when a catalog is configured
        "errors": errors,
        "providers": providers,
        "crew": state.report_extras() if state else {},
        "notes": {**state.notes, "phrase_cache": state.phrase_stats.as_dict()} if state else {},
    }
    if extra:
        report.update(extra)
    return report
