"""Every report says how the call ended (`ended_by`), through the worker's own session-end path.

The session is the worker's (`start_call` in LiveKit's fake job context, replay LLM); it is
closed with the reason LiveKit itself gives (room_io closes it with `participant_disconnected`
when the caller hangs up), and `on_session_end` writes the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from livekit.agents.testing import fake_job_context
from livekit.agents.voice.events import CloseReason

from callcrew import worker
from callcrew.call import CallInfo, Channel
from callcrew.endings import EndedBy, resolve_ended_by
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.store import open_store

pytestmark = pytest.mark.unit


def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(name, "test-key-not-used")


async def _call_ending(
    tmp_path: Path, reason: CloseReason, *, recorded: str | None = None, error: str | None = None
) -> dict[str, Any]:
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    settings = Settings(database_url=db, reports_dir=tmp_path / "reports")
    info = CallInfo(channel=Channel.INBOUND, room="call-in-1", caller_number="+15550142233")
    with fake_job_context() as ctx:
        run = await worker.start_call(
            ctx,
            info,
            settings,
            room=None,
            participant_identity="sip_caller",
            llm_override=ReplayLLM(ReplayScript(turns={})),
        )
        assert run.session is not None and run.state is not None
        if run.session.current_speech is not None:  # the greeting
            await run.session.current_speech.wait_for_playout()
        if recorded:
            run.state.ended_by = recorded
        if error:
            run.errors.append(error)
        # What LiveKit does: room_io on the caller's hang-up, the job on shutdown, ...
        await run.session._aclose_impl(reason=reason)
        await worker.on_session_end(ctx)
    with open_store(db) as store:
        report = store.reports.get(info.call_id)
    assert report is not None
    return report


@pytest.mark.parametrize(
    ("reason", "ended_by", "outcome"),
    [
        (CloseReason.PARTICIPANT_DISCONNECTED, "caller", "caller_hung_up"),
        (CloseReason.JOB_SHUTDOWN, "shutdown", "caller_hung_up"),
        (CloseReason.ERROR, "error", "failed"),
    ],
)
async def test_an_ending_nobody_recorded_comes_from_livekits_close_reason(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    reason: CloseReason,
    ended_by: str,
    outcome: str,
) -> None:
    _keys(monkeypatch)
    report = await _call_ending(tmp_path, reason)
    assert report["ended_by"] == ended_by
    assert report["outcome"] == outcome


async def test_a_recorded_ending_wins_and_a_failed_job_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _keys(monkeypatch)
    report = await _call_ending(tmp_path, CloseReason.JOB_SHUTDOWN, recorded="transfer")
    assert report["ended_by"] == "transfer"
    report = await _call_ending(
        tmp_path, CloseReason.PARTICIPANT_DISCONNECTED, error="RuntimeError: boom"
    )
    assert report["ended_by"] == "error" and report["outcome"] == "failed"


async def test_a_job_that_failed_before_the_call_is_ended_by_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'calls.db'}")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    with fake_job_context() as ctx:
        worker._RUNS.pop(ctx.job.id, None)
        await worker.on_session_end(ctx)
    (report,) = open_store(f"sqlite:///{tmp_path / 'calls.db'}").reports.list()
    assert report["ended_by"] == "error"


def test_every_ending_has_a_name() -> None:
    assert {e.value for e in EndedBy} == {
        "caller",
        "agent",
        "transfer",
        "silence",
        "time_limit",
        "dial",
        "machine",
        "error",
        "provider_failure",
        "shutdown",
        "no_worker",
    }
    assert resolve_ended_by(None, close_reason=None, errors=[]) == "caller"
    assert resolve_ended_by("agent", close_reason="error", errors=["x"]) == "agent"


@pytest.mark.parametrize(
    ("scenario", "ended_by"),
    [
        ("new_booking_web", "agent"),  # the wrap-up's goodbye, then the agent hangs up
        ("human_transfer_phone", "transfer"),  # a cold transfer to a person
    ],
)
async def test_endings_the_crew_causes_are_recorded_by_the_crew(
    scenario: str, ended_by: str
) -> None:
    from callcrew.settings import load_settings
    from callcrew.simulate.runner import run_scenario
    from callcrew.simulate.scenario import load_scenario

    path = Path(__file__).parent / "scenarios" / f"{scenario}.yaml"
    result = await run_scenario(load_scenario(path), load_settings())
    assert result.passed, result.failures
    assert result.report["ended_by"] == ended_by
