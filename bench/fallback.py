"""Fallback: time to the caller's first sound after each provider fault, at the default settings.

    .venv/bin/python -m bench fallback [--quick]

Each sample is one call through the worker's own path (`worker.start_call`, LiveKit's fake job
context), the fallback chains built from settings, faults injected at the network boundary:
the local OpenAI-compatible stub (`tests/openai_stub.py`: 500, 429, 401, hang, dropped
connection before or after the first words, malformed stream) and fake TTS plugins that fail
or hang (`tests/fault_fakes.py`).
The TTS is the fixed-latency tone (TTFB 150 ms, `bench/fakes.py`); the LLM stub answers in
~5 ms when it answers. The clock starts when the caller's line is committed (text input: the
STT and turn-taking in front of it are measured in `engine`/`turntaking`) and stops at the first
agent audio frame, and separately at the first frame of the real answer.

The phrase cache holds the filler as an earlier call with the chain's own TTS up recorded it
(a 1.2 s tone, `_record_filler`), so the filler plays from disk; the row "filler not cached"
speaks it through the chain instead, as before.

Settings are the shipped defaults (FILLER_AFTER, LLM_ATTEMPT_TIMEOUT, TTS_ATTEMPT_TIMEOUT,
PROVIDER_RETRIES); the goal for an LLM hang is <= 3 s of dead air to the first filler.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import ms, table, write_result
from bench.fakes import FixedTTS, Latencies

LINE = "Hi, I'd like to book a haircut please"
REPLY = "Of course, which day suits you?"
UNCACHED = "_filler_not_cached"  # a row setting: no recording of the filler in the cache
HANG_BOTH = {
    "llm": "openai/primary",
    "llm_fallback": "openai/backup",
    "tts": "fake/hang",
    "tts_fallback": "bench/fixed",
}
LLM_ROWS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("no fault", {"llm": "openai/primary", "llm_fallback": "openai/backup"}, {}),
    *[
        (f"LLM {f}", {"llm": "openai/primary", "llm_fallback": "openai/backup"}, {"primary": f})
        for f in ("500", "429", "401", "hang", "drop", "drop_mid", "malformed")
    ],
    ("LLM hang, no fallback", {"llm": "openai/primary"}, {"primary": "hang"}),
    # The LLM is late and the TTS hangs: the filler from the phrase cache, and (for
    # comparison) spoken through the chain as before, waiting out the hanging TTS's attempt.
    ("LLM hang + TTS hang", {**HANG_BOTH}, {"primary": "hang"}),
    ("LLM hang + TTS hang, filler not cached", {**HANG_BOTH, UNCACHED: True}, {"primary": "hang"}),
    ("LLM all fail (500, 429)", {"llm": "openai/primary", "llm_fallback": "openai/backup"},
     {"primary": "500", "backup": "429"}),
]  # fmt: skip
TTS_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("TTS fail", {"tts": "fake/fail", "tts_fallback": "bench/fixed"}),
    ("TTS hang", {"tts": "fake/hang", "tts_fallback": "bench/fixed"}),
]
# STT rows: the caller's audio flows to the STT from the session's start; a failed or hanging
# STT costs no dead air but deaf time: `switch` is when the chain moved to the next STT,
# counted from the session's start (audio before it is not transcribed).
STT_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("STT ok (reference)", {"stt": "fake/ok"}),
    ("STT fail", {"stt": "fake/fail", "stt_fallback": "fake/ok"}),
    ("STT hang", {"stt": "fake/hang", "stt_fallback": "fake/ok"}),
]


async def _heard_reply(session: Any, limit: float = 15.0) -> None:
    end = time.time() + limit
    while time.time() < end:
        roles = [m.role for m in session.history.items if m.type == "message"]
        answered = "user" in roles and roles.count("assistant") >= 2  # greeting + the reply
        if answered and session.agent_state == "listening" and session.current_speech is None:
            return
        await asyncio.sleep(0.02)


def _record_filler(settings: Any, folder: Path) -> None:
    """The filler's recording, as an earlier call with the chain's own TTS up left it in the
    phrase cache (keyed on that TTS, which may be the one that hangs now): 1.2 s of tone."""
    import wave

    import numpy as np

    from callcrew.profile import load_profile
    from callcrew.providers.phrases import PhraseCache
    from callcrew.providers.stacks import build_tts, resolve_stack

    primary = build_tts(settings, resolve_stack(settings).tts)
    path = PhraseCache(folder).path_for(primary, load_profile().one_moment)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tone = (3000 * np.sin(2 * np.pi * 440 * np.arange(19_200) / 16_000)).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(tone.tobytes())


async def one(
    settings_kw: dict[str, Any],
    faults: dict[str, str],
    *,
    spoken: bool = False,
    phrases: Path | None = None,
) -> dict[str, Any]:
    from livekit.agents.testing import fake_job_context
    from tests.fault_fakes import Earpiece, SilentLine
    from tests.openai_stub import OpenAIStub, StubReply, serve

    from callcrew import worker
    from callcrew.call import CallInfo, Channel
    from callcrew.settings import Settings

    settings_kw = dict(settings_kw)
    uncached = bool(settings_kw.pop(UNCACHED, False))
    stub = OpenAIStub(replies=[StubReply(text=REPLY) for _ in range(3)], faults=faults)  # type: ignore[arg-type]
    ear = Earpiece()
    with tempfile.TemporaryDirectory(prefix="bench-fallback-") as tmp:
        async with serve(stub):
            settings = Settings(
                **{
                    "_env_file": None,
                    "database_url": f"sqlite:///{Path(tmp) / 'calls.db'}",
                    "reports_dir": Path(tmp) / "reports",
                    # The phrase cache holds the filler, as an earlier call left it.
                    "phrase_cache_dir": phrases or Path(tmp) / "phrases",
                    "llm_base_url": stub.url,
                    "openai_api_key": "sk-bench-not-a-key",
                    "analysis": False,  # no side LLM to reach: every packet stays local
                    "stt": "fake/ok",
                    "tts": "bench/fixed",
                    **settings_kw,
                }
            )
            if not uncached:
                _record_filler(settings, phrases or Path(tmp) / "phrases")
            info = CallInfo(channel=Channel.INBOUND, room="bench", caller_number="+15550100999")
            started = time.time()
            with fake_job_context() as ctx:
                run = await worker.start_call(
                    ctx, info, settings, room=None, audio=(SilentLine(), ear)
                )
                session, state = run.session, run.state
                assert session is not None and state is not None and run.recovery is not None

                async def _end(*_: Any) -> None:  # the fake job has no room or SIP leg
                    return None

                state.control.hang_up = _end  # type: ignore[method-assign]
                state.control.transfer = _end  # type: ignore[method-assign]
                if session.current_speech is not None:
                    await session.current_speech.wait_for_playout()
                before = len(ear.segments)
                t0 = time.time()
                if spoken:
                    await _heard_reply(session)
                else:
                    await session.run(user_input=LINE)
                await run.recovery.settle()
                if session.current_speech is not None:
                    await session.current_speech.wait_for_playout()
                after = ear.segments[before:]
                said = [
                    m.text_content or ""
                    for m in session.history.items
                    if m.type == "message" and m.role == "assistant"
                ][1:]
                switches = [
                    datetime.fromisoformat(w["at"]).timestamp() - started
                    for w in run.recovery.log.switches
                    if not w["available"]
                ]
                session.options.session_close_transcript_timeout = 0.1
                await session.aclose()
                await worker.on_session_end(ctx)
    text = " ".join(said)
    filler = state.profile.one_moment in text
    # The filler is a segment of its own; the answer's first frame starts the next one.
    answer = after[1 if filler else 0] if REPLY in text and len(after) > filler else None
    return {
        "switch_s": switches[0] if switches else None,
        "first_sound_s": (after[0] - t0) if after else None,
        "answer_s": (answer - t0) if answer is not None else None,
        "filler": filler,
        "filler_from_cache": state.profile.one_moment in state.phrase_stats.spoken,
        "apology": state.profile.technical_trouble in text,
        "outcome": "-" if state.outcome.value == "in_progress" else state.outcome.value,
    }


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def main(args: argparse.Namespace) -> None:
    from tests.fault_fakes import fault_plugins

    from callcrew.providers import stacks

    n = 1 if args.quick else 3
    lat = Latencies(tts_ttfb_ms=150.0)
    stacks.EXTRA_PLUGINS[("tts", "bench")] = lambda _s, _b: FixedTTS(lat)
    rows: list[dict[str, Any]] = []
    cases = [(name, kw, faults, False) for name, kw, faults in LLM_ROWS]
    cases += [(name, kw, {}, False) for name, kw in TTS_ROWS]
    cases += [(name, kw, {}, True) for name, kw in STT_ROWS]
    try:
        with fault_plugins():
            asyncio.run(one(LLM_ROWS[0][1], {}))  # warm-up: imports, first connection
            for name, kw, faults, spoken in cases:
                # A fresh phrase cache per sample, holding only the filler: the greeting is
                # spoken by the TTS each time, so every sample starts from the same point.
                samples = [asyncio.run(one(kw, faults, spoken=spoken)) for _ in range(n)]
                rows.append(
                    {
                        "fault": name,
                        "n": n,
                        "first_sound_s": _median([s["first_sound_s"] for s in samples]),
                        "answer_s": _median([s["answer_s"] for s in samples]),
                        "switch_s": _median([s["switch_s"] for s in samples]),
                        "filler": samples[-1]["filler"],
                        "filler_from_cache": samples[-1]["filler_from_cache"],
                        "apology": samples[-1]["apology"],
                        "outcome": samples[-1]["outcome"],
                    }
                )
                print(f"  {name}: done", flush=True)
    finally:
        stacks.EXTRA_PLUGINS.pop(("tts", "bench"), None)
    from callcrew.settings import Settings

    d = Settings(_env_file=None)  # type: ignore[call-arg]
    print(
        f"defaults: FILLER_AFTER {d.filler_after} s, LLM_ATTEMPT_TIMEOUT {d.llm_attempt_timeout} s,"
        f" TTS_ATTEMPT_TIMEOUT {d.tts_attempt_timeout} s, STT_ATTEMPT_TIMEOUT"
        f" {d.stt_attempt_timeout} s, PROVIDER_RETRIES {d.provider_retries};"
        f" TTS TTFB {lat.tts_ttfb_ms:.0f} ms; median of {n}"
    )
    print(
        table(
            ["fault", "switch ms", "first sound ms", "answer ms", "filler", "apology", "outcome"],
            [
                [
                    r["fault"],
                    ms(r["switch_s"]) if r["fault"].startswith("STT") else "-",
                    ms(r["first_sound_s"]) if not r["fault"].startswith("STT") else "-",
                    ms(r["answer_s"]) if not r["fault"].startswith("STT") else "-",
                    ("cache" if r["filler_from_cache"] else "TTS") if r["filler"] else "-",
                    "yes" if r["apology"] else "-",
                    r["outcome"],
                ]
                for r in rows
            ],
        )
    )
    settings = {
        "filler_after": d.filler_after,
        "llm_attempt_timeout": d.llm_attempt_timeout,
        "tts_attempt_timeout": d.tts_attempt_timeout,
        "stt_attempt_timeout": d.stt_attempt_timeout,
        "provider_retries": d.provider_retries,
        "tts_ttfb_ms": lat.tts_ttfb_ms,
    }
    path = write_result("fallback", {"settings": settings, "rows": rows}, args.out)
    print(f"written {path}")
