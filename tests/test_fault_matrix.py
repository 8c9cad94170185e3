"""The fault matrix: every provider fault a call can meet, injected at the network boundary
(the OpenAI-compatible HTTP stub, fake STT/TTS plugins), through the worker's own call path
(`worker.start_call` in LiveKit's fake job context, `worker.on_session_end` for the report).

Each row asserts what the caller heard, the outcome, the report (the provider that served, the
switch and its reason, errors scrubbed of keys) and that the report was saved. Rows are data:
add one to `ROWS` (engineer C's store / CRM / restart rows join the same table).
Timeouts are small here (settings); the figures for real timeouts are in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import AgentSession
from livekit.agents.testing import fake_job_context

from callcrew import worker
from callcrew.call import CallInfo, Channel
from callcrew.profile import load_profile
from callcrew.settings import Settings
from callcrew.store import open_store
from tests.fault_fakes import SECRET_ECHO, Earpiece, SilentLine, fault_plugins
from tests.openai_stub import OpenAIStub, StubReply, serve

pytestmark = pytest.mark.unit

KEY = "sk-test-matrix-SECRET-4242424242"
REPLY = "Of course, which day suits you?"
PROFILE = load_profile()
FILLER = PROFILE.one_moment
APOLOGY = PROFILE.technical_trouble
CALLER_LINE = "Hi, I'd like to book a haircut please"


@dataclass(frozen=True)
class Row:
    """One fault: the settings that build the chains, the stub's faults, what must follow."""

    id: str
    settings: dict[str, Any]
    llm_faults: dict[str, str] = field(default_factory=dict)  # stub model -> fault
    audio: bool = False  # a caller line through STT and replies through TTS
    cached_apology: bool = False  # the phrase cache holds the apology (a dead TTS can't say it)
    cached_filler: bool = False  # ... and the filler (recorded by an earlier call)
    from_cache: tuple[str, ...] = ()  # phrases the caller heard from the cache, not the TTS
    lines: int = 1  # caller lines (text rows)
    heard: tuple[str, ...] = ()  # texts the agent said after the greeting, in order
    outcome: str = "caller_hung_up"  # the test ends the call without a goodbye
    ended_by: str | None = None
    switch: tuple[str, str, str | None] | None = None  # (block, from, to) in providers.switches
    served: tuple[str, str] | None = None  # (block, provider) that answered the caller's line
    error_has: tuple[str, ...] = ()  # each must appear in some error line


def llm_row(fault: str, reason: str, *, heard: tuple[str, ...] = (REPLY,)) -> Row:
    return Row(
        id=f"llm-{fault}",
        settings={"llm": "openai/primary", "llm_fallback": "openai/backup"},
        llm_faults={"primary": fault},
        heard=heard,
        switch=("llm", "openai/primary", "openai/backup"),
        served=("llm", "openai/backup"),
        error_has=("llm openai/primary", reason),
    )


AUDIO = {"stt": "fake/ok", "tts": "fake/ok", "llm": "openai/primary"}
ALL_FAILED = (APOLOGY,)

ROWS: list[Row] = [
    llm_row("500", "500"),
    llm_row("429", "429"),
    llm_row("401", "401"),
    # A hang: the filler is heard at FILLER_AFTER, then the backup answers.
    llm_row("hang", "Timeout", heard=(FILLER, REPLY)),
    llm_row("drop", "APIConnectionError"),
    llm_row("malformed", "APIConnectionError"),
    Row(
        # Cut off after the first words: not an ending; the next line goes to the backup.
        id="llm-drop-mid-reply",
        settings={"llm": "openai/primary", "llm_fallback": "openai/backup"},
        llm_faults={"primary": "drop_mid"},
        lines=2,
        heard=("Of course,", REPLY),
        switch=("llm", "openai/primary", "openai/backup"),
        served=("llm", "openai/backup"),
        error_has=("llm openai/primary", "cut short"),
    ),
    Row(
        id="llm-all-failed",
        settings={"llm": "openai/primary", "llm_fallback": "openai/backup"},
        llm_faults={"primary": "500", "backup": "429"},
        heard=ALL_FAILED,
        outcome="provider_failure",
        ended_by="provider_failure",
        switch=("llm", "openai/primary", None),
        error_has=("llm openai/primary", "llm openai/backup", "every provider failed"),
    ),
    Row(
        id="llm-hang-no-fallback",
        settings={"llm": "openai/primary"},
        llm_faults={"primary": "hang"},
        heard=(FILLER, APOLOGY),
        outcome="provider_failure",
        ended_by="provider_failure",
        error_has=("llm openai/primary", "Timeout", "every provider failed"),
    ),
    Row(
        id="tts-fail",
        settings={**AUDIO, "tts": "fake/fail", "tts_fallback": "fake/ok"},
        audio=True,
        heard=(REPLY,),
        switch=("tts", "fake/fail", "fake/ok"),
        served=("tts", "fake/ok"),
        error_has=("tts fake/fail", "503"),
    ),
    Row(
        id="tts-hang",
        settings={**AUDIO, "tts": "fake/hang", "tts_fallback": "fake/ok"},
        audio=True,
        heard=(REPLY,),
        switch=("tts", "fake/hang", "fake/ok"),
        served=("tts", "fake/ok"),
        error_has=("tts fake/hang", "Timeout"),
    ),
    Row(
        # The LLM is late and the TTS hangs: the filler comes from the phrase cache at
        # FILLER_AFTER (through the hanging TTS it would wait out the TTS attempt), then the
        # backup LLM's answer in the backup voice.
        id="llm-hang-tts-hang",
        settings={
            **AUDIO,
            "llm_fallback": "openai/backup",
            "tts": "fake/hang",
            "tts_fallback": "fake/ok",
        },
        llm_faults={"primary": "hang"},
        audio=True,
        cached_filler=True,
        heard=(FILLER, REPLY),
        from_cache=(FILLER,),
        switch=("llm", "openai/primary", "openai/backup"),
        served=("llm", "openai/backup"),
        error_has=("llm openai/primary", "tts fake/hang"),
    ),
    Row(
        # Every TTS down from the first word: the apology comes from the phrase cache.
        id="tts-all-failed",
        settings={**AUDIO, "tts": "fake/fail", "tts_fallback": "fake/hang"},
        audio=True,
        cached_apology=True,
        heard=ALL_FAILED,
        outcome="provider_failure",
        ended_by="provider_failure",
        switch=("tts", "fake/fail", None),
        error_has=("tts fake/fail", "tts fake/hang", "every provider failed"),
    ),
    Row(
        id="stt-fail",
        settings={**AUDIO, "stt": "fake/fail", "stt_fallback": "fake/ok"},
        audio=True,
        heard=(REPLY,),
        switch=("stt", "fake/fail", "fake/ok"),
        served=("stt", "fake/ok"),
        error_has=("stt fake/fail", "503"),
    ),
    Row(
        id="stt-hang",
        settings={**AUDIO, "stt": "fake/hang", "stt_fallback": "fake/ok"},
        audio=True,
        heard=(REPLY,),
        switch=("stt", "fake/hang", "fake/ok"),
        served=("stt", "fake/ok"),
        error_has=("stt fake/hang", "Timeout"),
    ),
    Row(
        id="stt-all-failed",
        settings={**AUDIO, "stt": "fake/fail", "stt_fallback": "fake/hang"},
        audio=True,
        heard=ALL_FAILED,
        outcome="provider_failure",
        ended_by="provider_failure",
        error_has=("stt fake/fail", "stt fake/hang", "every provider failed"),
    ),
]

# Small per-attempt timeouts keep the matrix fast; the behaviour is the same at any size.
# (The LLM attempt leaves room for a cold client on a busy 2-core machine.)
FAST = {
    "llm_attempt_timeout": 2.0,
    "stt_attempt_timeout": 0.5,
    "tts_attempt_timeout": 0.5,
    "filler_after": 0.3,
}


@dataclass
class Heard:
    report: dict[str, Any]
    on_disk: dict[str, Any]
    saved: dict[str, Any] | None
    hung_up: str | None  # "provider_failure" when the call was ended (or transferred) by us
    frames: int
    stub: OpenAIStub


async def _settle(session: AgentSession[Any], until: Callable[[], bool], limit: float) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while loop.time() < end and not until():
        await asyncio.sleep(0.05)
    if session.current_speech is not None:
        await asyncio.wait_for(session.current_speech.wait_for_playout(), limit)


async def run_row(row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Heard:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    db = f"sqlite:///{tmp_path / 'calls.db'}"
    stub = OpenAIStub(replies=[StubReply(text=REPLY) for _ in range(4)], faults=row.llm_faults)  # type: ignore[arg-type]
    info = CallInfo(channel=Channel.INBOUND, room="fault-room", caller_number="+15550142233")
    ear = Earpiece() if row.audio else None
    with fault_plugins():
        async with serve(stub):
            settings = Settings(
                **{
                    "database_url": db,
                    "reports_dir": tmp_path / "reports",
                    "phrase_cache_dir": (
                        tmp_path / "phrases" if row.cached_apology or row.cached_filler else None
                    ),
                    "llm_base_url": stub.url,
                    "stt": "fake/ok",  # text rows never reach STT/TTS; no vendor key needed
                    "tts": "fake/ok",
                    **FAST,
                    **row.settings,
                }
            )
            if row.cached_apology:
                _cache_apology(settings, tmp_path / "phrases", info)
            if row.cached_filler:
                _record(settings, tmp_path / "phrases", FILLER)
            with fake_job_context() as ctx:
                run = await worker.start_call(
                    ctx,
                    info,
                    settings,
                    room=None,
                    participant_identity="sip_caller",
                    audio=(SilentLine(), ear) if ear is not None else None,
                )
                session = run.session
                assert session is not None and run.state is not None
                control = run.state.control
                assert isinstance(control, worker.RoomCallControl)
                hung_up: list[str] = []

                async def _hang_up(reason: str) -> None:  # the fake job has no room to delete
                    hung_up.append(reason)
                    control.hung_up = reason

                async def _transfer(to_number: str) -> None:  # nor a SIP participant
                    hung_up.append("provider_failure")
                    control.transferred_to = to_number

                control.hang_up = _hang_up  # type: ignore[method-assign]
                control.transfer = _transfer  # type: ignore[method-assign]
                if session.current_speech is not None:  # the greeting
                    await session.current_speech.wait_for_playout()
                if row.audio:
                    # The caller speaks; the STT chain hears it (or fails entirely).
                    await _settle(session, lambda: _answered(session) or bool(hung_up), 8.0)
                else:
                    for _ in range(row.lines):
                        await session.run(user_input=CALLER_LINE)
                assert run.recovery is not None
                await run.recovery.settle()
                await _settle(session, lambda: True, 8.0)
                # The fake caller says nothing more: don't wait LiveKit's 2 s for a last line.
                session.options.session_close_transcript_timeout = 0.1
                await session.aclose()
                await worker.on_session_end(ctx)

    report_path = tmp_path / "reports" / f"{info.call_id}.json"
    with open_store(db) as store:
        saved = store.reports.get(info.call_id)
    on_disk = json.loads(report_path.read_text())
    return Heard(
        report=on_disk,
        on_disk=on_disk,
        saved=saved,
        hung_up=hung_up[0] if hung_up else None,
        frames=ear.frames if ear is not None else 0,
        stub=stub,
    )


def _cache_apology(settings: Settings, folder: Path, info: CallInfo) -> None:
    """What an earlier call, with the TTS up, left in the phrase cache: the apology's WAV,
    keyed on the chain's own TTS (the one that is down now)."""
    from agents.crew import CREW

    from callcrew.providers.recovery import callback_or_transfer

    control = worker.RoomCallControl(None, info.channel, "sip_caller")  # type: ignore[arg-type]
    state = type("S", (), {"profile": PROFILE, "control": control, "info": info})()
    assert CREW.on_provider_failure is not None
    _record(settings, folder, callback_or_transfer(state).say)  # type: ignore[arg-type]


def _record(settings: Settings, folder: Path, text: str) -> None:
    """One phrase's WAV, as an earlier call with the TTS up would have left it."""
    from callcrew.providers.phrases import PhraseCache
    from callcrew.providers.stacks import build_tts, resolve_stack

    primary = build_tts(settings, resolve_stack(settings).tts)
    path = PhraseCache(folder).path_for(primary, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(b"\x10\x00" * 16_000)  # one second


def _answered(session: AgentSession[Any]) -> bool:
    agent_lines = [
        m for m in session.history.items if m.type == "message" and m.role == "assistant"
    ]
    return len(agent_lines) >= 2 and session.agent_state == "listening"


def _agent_said(report: dict[str, Any]) -> str:
    lines = [t["text"] for t in report["transcript"] if t["role"] == "agent"]
    return " | ".join(line for line in lines if line != PROFILE.greeting)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
async def test_fault_matrix(
    row: Row, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    heard = await run_row(row, tmp_path, monkeypatch)
    # LiveKit leaves a failed say()'s task exception unretrieved: let asyncio log it now that
    # the call is gone, not from a finalizer at an arbitrary later point (CPython 3.11 can
    # raise SystemError when that finalizer runs inside a compile() of a lazy import).
    gc.collect()
    report = heard.report

    # What the caller heard, in order, after the greeting.
    said = _agent_said(report)
    position = 0
    for text in row.heard:
        found = said.find(text, position)
        assert found >= 0, f"expected {text!r} in what the caller heard: {said!r}"
        position = found + len(text)
    if row.audio:
        assert heard.frames > 0, "no audio reached the caller"
    cached_texts = report["notes"]["phrase_cache"]["cached_texts"]
    for text in row.from_cache:
        assert text in cached_texts, (text, cached_texts)

    # The ending.
    assert report["outcome"] == row.outcome
    if row.ended_by is not None:
        assert report["ended_by"] == row.ended_by
        assert heard.hung_up == "provider_failure"
    else:
        assert heard.hung_up is None

    # The report: who served, the switch and its reason, every failure named and scrubbed.
    providers = report["providers"]
    assert providers is not None
    if row.switch is not None:
        block, source, to = row.switch
        switches = [s for s in providers["switches"] if s["block"] == block and not s["available"]]
        assert any(s["provider"] == source and s["to"] == to for s in switches), [
            (s["provider"], s["to"]) for s in switches
        ]
        assert all(s["reason"] for s in switches)
    if row.served is not None:
        block, provider = row.served
        assert (
            any(
                s["block"] == block and s["provider"] == provider and s["line"] >= 1
                for s in providers["served"]
            )
            or block != "llm"
        ), providers["served"]
        assert any(s["block"] == block and s["provider"] == provider for s in providers["served"])
    for text in row.error_has:
        assert any(text in e for e in report["errors"]), (text, report["errors"])
    if row.outcome == "provider_failure":
        assert providers["failed_blocks"]
        # The built-in profile names a colleague and the line is a phone call: transfer.
        assert report["notes"]["provider_failure"]["action"] == "transfer"
    dumped = json.dumps(report)
    assert KEY not in dumped and SECRET_ECHO not in dumped and "sk-fault" not in dumped
    # Nor in any log line (LiveKit logs each upstream error it switches away from).
    assert KEY not in caplog.text and "sk-fault" not in caplog.text

    # Saved in the store and on disk, the same report.
    assert heard.saved is not None and heard.saved["call_id"] == report["call_id"]
    assert heard.saved["outcome"] == report["outcome"]
    assert heard.saved["errors"] == report["errors"]
