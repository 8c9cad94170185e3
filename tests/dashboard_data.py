"""A store of call reports for the dashboard's tests: real rehearsals, spread over days.

Two scenarios run through the real crew and replay LLM (`run_scenario`); their reports are
saved again under new ids, dates, channels and outcomes so the pages have a week to show. One
call gets a WAV recording, true-wait figures and a post-call analysis, as an audio rehearsal or
a later analysis step would leave them.
"""

from __future__ import annotations

import asyncio
import copy
import threading
import wave
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from callcrew.settings import Settings
from callcrew.simulate.runner import run_scenario
from callcrew.simulate.scenario import load_scenario
from callcrew.store import open_store

REPO = Path(__file__).resolve().parents[1]
DAY0 = datetime(2026, 6, 8, 14, 0, tzinfo=UTC)
# (day offset, channel, outcome, scenario index) per call; the first is the one with audio.
PLAN = [
    (0, "inbound", "booked", 0),
    (0, "web", "cancelled", 1),
    (1, "inbound", "booked", 0),
    (2, "outbound", "no_answer", 1),
    (2, "inbound", "booked", 0),
    (3, "inbound", "caller_hung_up", 1),
    (5, "web", "booked", 0),
    (6, "inbound", "failed", 1),
]
AUDIO_CALL = "dash-0"


def _wav(path: Path, seconds: float = 0.5) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * 2 * int(16000 * seconds))


def _spoken_latency(report: dict[str, Any], i: int, *, audio: bool) -> None:
    """Per-turn figures as a spoken call has them (a text rehearsal measures only the LLM):
    made-up but plausible, different per call so percentiles and charts have a shape."""
    for n, turn in enumerate(report["turns"]):
        if turn.get("first"):
            continue  # the fixed greeting: no caller line, no LLM call
        eot = 0.55 + 0.01 * i
        ttft = 0.32 + 0.03 * n + 0.02 * i
        ttfb = 0.18 + 0.01 * (i % 3)
        turn.update(
            end_of_turn_delay=round(eot, 3),
            transcription_delay=round(eot - 0.05, 3),
            llm_node_ttft=round(ttft, 3),
            tts_node_ttfb=round(ttfb, 3),
            e2e_latency=round(eot + ttft + ttfb, 3),
            true_wait_s=round(eot + ttft + ttfb + 0.1, 3) if audio else None,
        )


async def rehearsal_reports() -> list[dict[str, Any]]:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    out = []
    for name in ("agents/data/demo_call.yaml", "tests/scenarios/cancel_appointment.yaml"):
        result = await run_scenario(load_scenario(REPO / name), settings)
        out.append(result.report)
    return out


def fill_store(url: str, folder: Path) -> list[dict[str, Any]]:
    """Save the PLAN's reports in the store at `url`; returns them (newest last)."""
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    base: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: base.extend(asyncio.run(rehearsal_reports())))
    worker.start()
    worker.join()
    assert len(base) == 2, "the rehearsals did not run"
    saved = []
    with open_store(url) as store:
        for i, (day, channel, outcome, which) in enumerate(PLAN):
            report = copy.deepcopy(base[which])
            started = DAY0 + timedelta(days=day, minutes=17 * i)
            duration = float(report.get("duration_s") or 60)
            report.update(
                call_id=f"dash-{i}",
                room=f"call-dash-{i}",
                channel=channel,
                outcome=outcome,
                started_at=started.isoformat(),
                ended_at=(started + timedelta(seconds=duration)).isoformat(),
                caller_number="+15550142233" if channel != "web" else None,
            )
            _spoken_latency(report, i, audio=report["call_id"] == AUDIO_CALL)
            if report["call_id"] == AUDIO_CALL:
                wav = folder / "dash-0.wav"
                _wav(wav)
                report["audio"] = {"wav": str(wav), "wav_seconds": 0.5}
                report["analysis"] = {"summary": "Booked a haircut <b>Tuesday</b>"}
            store.reports.save(report)
            saved.append(report)
    return saved
