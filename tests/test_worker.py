"""The worker's own code: channel detection, session building, the report at the end.

The entrypoint's session-building path runs for real inside LiveKit's fake job context; only
the model is the replay LLM (provider keys are dummies: nothing is sent anywhere).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession
from livekit.agents.testing import fake_job_context

from callcrew import worker
from callcrew.call import CallInfo, Channel
from callcrew.providers.session import turn_handling
from callcrew.providers.stacks import resolve_stack
from callcrew.providers.turn_words import DictationTurnDetector
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.simulate.scenario import AgentStep
from callcrew.store import open_store

pytestmark = pytest.mark.unit

SIP = worker.SIP_KIND


def test_sip_participant_is_an_inbound_call_with_caller_and_dialled_numbers() -> None:
    info = worker.detect_call(
        room="call-_+15550142233_abc",
        job_metadata="",
        participant_kind=SIP,
        attributes={"sip.phoneNumber": "+15550142233", "sip.trunkPhoneNumber": "+15550100100"},
    )
    assert info.channel is Channel.INBOUND
    assert info.caller_number == "+15550142233"
    assert info.dialled_number == "+15550100100"


@pytest.mark.parametrize("raw", ["anonymous", "0123", "", "sip:bob@host"])
def test_withheld_or_odd_caller_id_is_no_caller_number(raw: str) -> None:
    info = worker.detect_call(
        room="r", job_metadata="", participant_kind=SIP, attributes={"sip.phoneNumber": raw}
    )
    assert info.channel is Channel.INBOUND
    assert info.caller_number is None


def test_outbound_metadata_makes_an_outbound_call() -> None:
    meta = json.dumps({"phone_number": "+15550142233", "purpose": "reminder"})
    info = worker.detect_call(room="r", job_metadata=meta, participant_kind=None, attributes=None)
    assert info.channel is Channel.OUTBOUND
    assert info.caller_number == "+15550142233"
    assert info.metadata["purpose"] == "reminder"


@pytest.mark.parametrize("metadata", ["", "not json", "[1, 2]", '{"other": 1}'])
def test_a_browser_is_web_whatever_the_metadata(metadata: str, caplog: Any) -> None:
    standard = 0  # PARTICIPANT_KIND_STANDARD
    info = worker.detect_call(
        room="r", job_metadata=metadata, participant_kind=standard, attributes={}
    )
    assert info.channel is Channel.WEB
    assert info.caller_number is None
    if metadata in ("not json", "[1, 2]"):
        assert "metadata" in caplog.text


def test_turn_handling_sets_every_option_explicitly() -> None:
    settings = Settings(
        endpointing_min_delay=0.3,
        endpointing_max_delay=2.0,
        preemptive_generation=False,
        false_interruption_timeout=None,
    )
    th = turn_handling(settings)
    # never LiveKit's cloud turn detector: our word detector (the default) or VAD
    assert isinstance(th["turn_detection"], DictationTurnDetector)
    assert turn_handling(Settings(turn_detection="vad"))["turn_detection"] == "vad"
    assert th["endpointing"] == {"mode": "fixed", "min_delay": 0.3, "max_delay": 2.0}
    assert th["interruption"]["mode"] == "vad"
    assert th["interruption"]["resume_false_interruption"] is False
    assert th["preemptive_generation"] == {"enabled": False, "preemptive_tts": False}


def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DEEPGRAM_API_KEY", "OPENAI_API_KEY", "CARTESIA_API_KEY"):
        monkeypatch.setenv(name, "test-key-not-used")


async def test_entrypoint_session_building_runs_a_call_and_writes_its_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _keys(monkeypatch)
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    settings = Settings(database_url=db, reports_dir=tmp_path / "reports")
    script = ReplayScript(
        turns={
            0: [
                AgentStep(
                    tool="hand_off_to_desk",
                    args={"caller_name": "Dana Whitfield", "reason": "a haircut"},
                ),
                AgentStep(say="Happy to help, Dana."),
            ]
        }
    )
    info = CallInfo(channel=Channel.INBOUND, room="call-1", caller_number="+15550142233")
    with fake_job_context() as ctx:
        run = await worker.start_call(
            ctx,
            info,
            settings,
            room=None,
            participant_identity="sip_caller",
            llm_override=ReplayLLM(script),
        )
        session = run.session
        assert isinstance(session, AgentSession)
        # The stack's real plugin objects were built from settings.
        assert type(session.stt).__module__.startswith("livekit.plugins.deepgram")
        # (With a phrase cache the session's TTS is the PhraseTTS around the chain.)
        voice = getattr(session.tts, "chain_tts", session.tts)
        assert type(voice).__module__.startswith("livekit.plugins.cartesia")
        assert run.stack == resolve_stack(settings).describe()
        # The word turn detector reads the agent's questions with the crew's list nouns.
        detector = session.turn_detection
        assert isinstance(detector, DictationTurnDetector) and run.crew is not None
        assert detector.list_nouns == run.crew.list_nouns and "appointments" in detector.list_nouns
        if session.current_speech is not None:  # the greeting
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        await session.run(user_input="Hi, Dana Whitfield here, I'd like a haircut")
        assert run.state is not None and run.state.agents_visited == ["intro", "appointments"]
        await session.aclose()
        await worker.on_session_end(ctx)

    store = open_store(db)
    report = store.reports.get(info.call_id)
    assert report is not None
    assert report["channel"] == "inbound"
    assert report["caller_number"] == "+15550142233"
    assert report["outcome"] == "caller_hung_up"  # nobody said goodbye: the caller left
    assert report["agents_visited"] == ["intro", "appointments"]
    assert [t["role"] for t in report["transcript"] if t["role"] in ("caller", "agent")] == [
        "agent",
        "caller",
        "agent",
    ]
    assert any(u["kind"] == "llm" and u["input_tokens"] > 0 for u in report["usage"])
    on_disk = json.loads((tmp_path / "reports" / f"{info.call_id}.json").read_text())
    assert on_disk["call_id"] == info.call_id


async def test_text_console_sessions_have_no_stt_or_tts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # `console --text` with only an LLM: no Deepgram or Cartesia key, nothing built for them.
    monkeypatch.setenv(worker.TEXT_ONLY_ENV, "1")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", reports_dir=tmp_path)
    script = ReplayScript(turns={0: [AgentStep(say="Sure, what is your name?")]})
    info = CallInfo(channel=Channel.WEB, room="console-room")
    with fake_job_context() as ctx:
        run = await worker.start_call(
            ctx, info, settings, room=None, llm_override=ReplayLLM(script)
        )
        session = run.session
        assert session is not None and session.stt is None and session.tts is None
        if session.current_speech is not None:  # the greeting, as text
            await session.current_speech.wait_for_playout()
        script.begin_turn(0)
        result = await session.run(user_input="Hi, I'd like a haircut")
        result.expect.contains_message(role="assistant")
        await session.aclose()


async def test_a_job_that_fails_before_the_call_still_leaves_a_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    db = tmp_path / "calls.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("REPORTS_DIR", str(tmp_path / "reports"))
    with fake_job_context() as ctx:
        worker._RUNS.pop(ctx.job.id, None)
        await worker.on_session_end(ctx)
    rows = open_store(f"sqlite:///{db}").reports.list(since=None, outcome=None)
    assert len(rows) == 1
    assert rows[0]["outcome"] == "failed"
    assert "before the call could start" in rows[0]["errors"][0]


async def test_session_end_posts_the_report_to_the_crm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from aiohttp import web

    from callcrew.metrics.webhook import verify_signature

    received: list[tuple[bytes, str, str]] = []

    async def hook(request: web.Request) -> web.Response:
        h = request.headers
        received.append(
            (await request.read(), h["X-Callcrew-Signature"], h["X-Callcrew-Timestamp"])
        )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/calls", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        _keys(monkeypatch)
        db = f"sqlite:///{tmp_path / 'calls.db'}"
        settings = Settings(
            database_url=db,
            reports_dir=tmp_path / "reports",
            crm_webhook_url=f"http://127.0.0.1:{port}/calls",
            crm_webhook_secret="s3cret",  # type: ignore[arg-type]
        )
        info = CallInfo(channel=Channel.WEB, room="web-1")
        with fake_job_context() as ctx:
            run = await worker.start_call(
                ctx, info, settings, room=None, llm_override=ReplayLLM(ReplayScript(turns={}))
            )
            assert run.session is not None
            await run.session.aclose()
            await worker.on_session_end(ctx)
    finally:
        await runner.cleanup()
    ((body, signature, timestamp),) = received
    assert verify_signature("s3cret", body, signature, timestamp)
    assert json.loads(body)["call_id"] == info.call_id
    with open_store(db) as store:
        assert store.outbox.due(datetime.now(UTC) + timedelta(days=1)) == []  # delivered
