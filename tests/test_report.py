"""The call report: masking, outcome defaults, per-turn latency labels, the failure path."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from agents.outcomes import DeskOutcome
from livekit.agents import llm

from callcrew.call import CallInfo, Channel, Outcome
from callcrew.metrics.report import LATENCY_NOTES, build_report, mask_number, turns
from callcrew.store import Store

pytestmark = pytest.mark.unit

T0 = 1_781_269_200.0  # 2026-06-12 13:00:00 UTC, as LiveKit's wall-clock floats
STARTED = datetime.fromtimestamp(T0, UTC)


def info(**kw: Any) -> CallInfo:
    base: dict[str, Any] = {
        "channel": Channel.INBOUND,
        "room": "room-7",
        "call_id": "call_report01",
        "caller_number": "+15550142233",
        "started_at": STARTED,
    }
    return CallInfo(**(base | kw))


def conversation() -> llm.ChatContext:
    """Greeting, then two caller turns; the second answer comes in two agent messages."""
    ctx = llm.ChatContext()
    ctx.add_message(role="assistant", content="Hello, Maple Street Salon.", created_at=T0)
    ctx.add_message(
        role="user",
        content="A haircut on Tuesday please.",
        created_at=T0 + 2,
        metrics={
            "started_speaking_at": T0 + 1.0,
            "stopped_speaking_at": T0 + 3.1,  # the VAD's anchor
            "end_of_turn_delay": 0.62,
            "transcription_delay": 0.05,
        },
    )
    ctx.add_message(
        role="assistant",
        content="Tuesday at nine or ten?",
        created_at=T0 + 4.2,
        metrics={
            "started_speaking_at": T0 + 4.2,
            "stopped_speaking_at": T0 + 5.5,
            "llm_node_ttft": 0.41234,
            "tts_node_ttfb": 0.3866,
            "e2e_latency": 1.1,
            "llm_node_tps": 41.26,
        },
    )
    ctx.add_message(
        role="user",
        content="Nine.",
        created_at=T0 + 7,
        metrics={"stopped_speaking_at": T0 + 7.5, "end_of_turn_delay": 0.5},
    )
    ctx.add_message(
        role="assistant",
        content="Booked.",
        interrupted=True,
        created_at=T0 + 8.4,
        metrics={"started_speaking_at": T0 + 8.4, "llm_node_ttft": 0.3, "e2e_latency": 0.9},
    )
    ctx.add_message(
        role="assistant",
        content="Anything else?",
        created_at=T0 + 9.0,
        metrics={"started_speaking_at": T0 + 9.0, "llm_node_ttft": 0.2},
    )
    return ctx


# --- mask_number -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15551234567", "+1555***4567"),
        ("+44 20 7946 0958", "+4420***0958"),
        ("(555) 123-4567", "+5551***4567"),
        ("12345", "***"),
        ("", ""),
        (None, None),
    ],
)
def test_mask_number(number: str | None, masked: str | None) -> None:
    assert mask_number(number) == masked


def test_mask_never_shows_the_middle_digits() -> None:
    assert "123" not in (mask_number("+15551234567") or "")


# --- turns and latency labels ------------------------------------------------------------------


def test_turns_keep_livekit_figures_and_label_the_first() -> None:
    rows = turns(conversation())
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    assert [r["first"] for r in rows] == [True, False, False, False]
    greeting, answer, booked, more = rows
    assert greeting["e2e_latency"] is None and greeting["llm_node_ttft"] is None
    assert answer["llm_node_ttft"] == 0.4123
    assert answer["tts_node_ttfb"] == 0.3866
    assert answer["e2e_latency"] == 1.1
    assert answer["llm_tokens_per_s"] == 41.3
    # LiveKit keeps these on the caller's message: the reply to it carries them.
    assert answer["end_of_turn_delay"] == 0.62
    assert answer["transcription_delay"] == 0.05
    assert booked["end_of_turn_delay"] == 0.5 and booked["transcription_delay"] is None
    assert booked["interrupted"] is True
    # A second message in the same turn answers no new caller line.
    assert more["end_of_turn_delay"] is None and more["e2e_latency"] is None
    # Without the caller's true end of speech there is no true wait.
    assert all(r["true_wait_s"] is None for r in rows)


def test_true_wait_from_the_true_end_of_speech() -> None:
    # The caller really stopped 0.1 s before the VAD's anchor (T0 + 3.1).
    rows = turns(conversation(), {1: T0 + 3.0, 2: T0 + 7.4})
    assert rows[1]["true_wait_s"] == 1.2  # agent audio at T0 + 4.2
    assert rows[1]["e2e_latency"] == 1.1  # LiveKit's figure is left as it was
    assert rows[2]["true_wait_s"] == 1.0
    assert rows[0]["true_wait_s"] is None and rows[3]["true_wait_s"] is None


def test_true_wait_needs_the_agent_audio_time() -> None:
    ctx = llm.ChatContext()
    ctx.add_message(role="assistant", content="Hi.", metrics={"llm_node_ttft": 0.2})
    assert turns(ctx, {0: T0})[0]["true_wait_s"] is None


def test_report_carries_the_latency_notes_and_true_wait() -> None:
    report = build_report(
        None,
        info=info(),
        history=conversation(),
        usage=None,
        stack="economy",
        ended_at=STARTED + timedelta(seconds=10),
        true_end_of_speech={1: T0 + 3.0},
    )
    notes = report["latency_notes"]
    assert notes == LATENCY_NOTES
    assert notes["e2e_latency_source"] == "livekit_vad_anchor"
    assert "~100 ms" in notes["e2e_latency"]
    assert report["turns"][1]["true_wait_s"] == 1.2
    roles = [t["role"] for t in report["transcript"]]
    assert roles == ["agent", "caller", "agent", "caller", "agent", "agent"]
    assert report["transcript"][4]["interrupted"] is True
    assert report["transcript"][0]["time"] == STARTED.isoformat()


# --- outcome defaults and the failure path -----------------------------------------------------


def test_failure_report_without_a_call(store: Store) -> None:
    report = build_report(
        None,
        info=info(),
        history=None,
        usage=None,
        stack="economy",
        ended_at=STARTED + timedelta(seconds=3.5),
        error="the job ended before the call could start",
    )
    assert report["outcome"] == "failed"
    assert report["ended_by"] == "error"
    assert report["errors"] == ["the job ended before the call could start"]
    assert report["transcript"] == [] and report["turns"] == [] and report["usage"] == []
    assert report["agents_visited"] == [] and report["crew"] == {} and report["cost"] is None
    assert report["duration_s"] == 3.5
    assert report["caller_number"] == "+15550142233"
    # It is plain JSON and the store keeps it as written.
    store.reports.save(report)
    assert store.reports.get("call_report01") == json.loads(json.dumps(report))


async def test_outcome_defaults(make_call: Callable[..., Any]) -> None:
    state, _ = await make_call()
    assert state.outcome is Outcome.IN_PROGRESS

    def build(error: str | None = None) -> dict[str, Any]:
        return build_report(
            state, info=state.info, history=llm.ChatContext(), usage=None, stack="economy",
            error=error,
        )  # fmt: skip

    # Nobody set an ending: the caller left mid-call, or the session broke.
    assert build()["outcome"] == "caller_hung_up"
    failed = build("RuntimeError: boom")
    assert failed["outcome"] == "failed" and failed["errors"][-1] == "RuntimeError: boom"
    state.set_outcome(DeskOutcome.BOOKED)
    state.errors.append("a tool failed once")
    report = build("late error")
    assert report["outcome"] == "booked"
    assert report["errors"] == ["a tool failed once", "late error"]
    assert report["channel"] == "inbound"
