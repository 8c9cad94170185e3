"""The local TTS adapter (Hibari, voice "heart", 24 kHz) and its round trip through the STT."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import metrics

from callcrew.providers.local_stt import LocalModelError, LocalWhisperSTT
from callcrew.providers.local_tts import (
    SAMPLE_RATE,
    LocalHibariTTS,
    check_voice,
    load_hibari,
    trim_silence,
)
from callcrew.providers.stacks import build_tts, missing_keys, resolve_stack
from callcrew.settings import Settings, SettingsError
from callcrew.simulate.audio import word_errors

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub

LONG = " ".join(
    f"Sentence number {n} is here so that the synthesis takes a while to finish." for n in range(12)
)


# --- unit: no synthesis ------------------------------------------------------------------------


@pytest.mark.unit
def test_only_heart_ships_offline() -> None:
    assert check_voice("heart").endswith(".onnx")
    with pytest.raises(LocalModelError, match="only the 'heart' voice ships offline"):
        check_voice("emma")
    with pytest.raises(LocalModelError, match="unknown Hibari voice"):
        check_voice("nobody")


@pytest.mark.unit
def test_stack_reports_a_voice_that_would_download() -> None:
    settings = Settings(stack="economy", tts="local/fenrir")
    choice = resolve_stack(settings)
    assert any("only the 'heart' voice ships offline" in p for p in missing_keys(settings, choice))
    with pytest.raises(SettingsError, match="heart"):
        build_tts(settings, choice.tts)
    voice_setting = Settings(stack="local", local_tts_voice="kore")
    assert any("'kore'" in p for p in missing_keys(voice_setting, resolve_stack(voice_setting)))
    tts = build_tts(Settings(stack="local"), resolve_stack(Settings(stack="local")).tts)
    assert isinstance(tts, LocalHibariTTS)
    assert (tts.sample_rate, tts.num_channels, tts.model) == (24000, 1, "hibari/heart")


@pytest.mark.unit
def test_padding_is_trimmed() -> None:
    tone = np.sin(np.arange(SAMPLE_RATE) / 5).astype(np.float32) * 0.5
    padded = np.concatenate([np.zeros(SAMPLE_RATE), tone, np.zeros(SAMPLE_RATE)])
    out = trim_silence(padded)
    assert len(tone) < len(out) < len(tone) + 0.3 * SAMPLE_RATE
    assert len(trim_silence(np.zeros(100, np.float32))) == 0


# --- audio: real synthesis ---------------------------------------------------------------------


async def _frames(tts: LocalHibariTTS, text: str) -> list[rtc.AudioFrame]:
    async with tts.synthesize(text) as stream:  # closing waits for the metrics
        return [ev.frame async for ev in stream]


@pytest.mark.audio
async def test_synthesizes_24k_mono_and_reports_metrics() -> None:
    tts = LocalHibariTTS()
    seen: list[metrics.TTSMetrics] = []
    tts.on("metrics_collected", seen.append)
    frames = await _frames(tts, "Thanks for calling. How can I help you today?")
    assert frames and all(f.sample_rate == 24000 and f.num_channels == 1 for f in frames)
    duration = sum(f.duration for f in frames)
    assert 1.5 < duration < 6
    assert (
        seen
        and seen[0].characters_count > 0
        and seen[0].audio_duration == pytest.approx(duration, abs=0.01)
    )


@pytest.mark.audio
@pytest.mark.parametrize(
    "text",
    ["Café Zoë's naïve crème brûlée costs 10 € — 15% off!", "日本語のテキスト", "🙂 ✓ …"],
)
async def test_non_ascii_text_never_fails_the_turn(text: str) -> None:
    frames = await _frames(LocalHibariTTS(), text)
    assert sum(f.duration for f in frames) > 0  # at worst a short silence, never an error


@pytest.mark.audio
async def test_cancellation_mid_synthesis_stops_promptly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Promptly = after the sentence in progress, not the whole text: counted in sentences
    Hibari synthesizes (at the model boundary), not in seconds."""
    tts = LocalHibariTTS()
    model = load_hibari(tts.voice)
    calls: list[int] = []
    real = model.from_ids

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "from_ids", counted)
    full = sum(f.duration for f in await _frames(tts, LONG))
    sentences_in_full = len(calls)
    calls.clear()
    stream = tts.synthesize(LONG)
    got = 0.0
    async for ev in stream:
        got += ev.frame.duration
        break
    await stream.aclose()
    assert 0 < got < full / 2
    # The shared model is still usable afterwards.
    assert await _frames(tts, "Still here.")
    # Every synthesis thread has returned, so work the cancelled stream left running counts too.
    await asyncio.get_running_loop().shutdown_default_executor()
    # The sentence that played, the one or two already under way when it was cancelled, and
    # "Still here.": nowhere near the whole text (a stream that kept going would make 13).
    assert sentences_in_full >= 10 and len(calls) <= 4, (sentences_in_full, len(calls))


@pytest.mark.audio
async def test_concurrent_streams_share_one_model() -> None:
    tts = LocalHibariTTS()
    results = await asyncio.gather(*(_frames(tts, f"Caller number {n}.") for n in range(4)))
    assert all(results)


# The agent's own lines, spoken by Hibari and heard by Whisper: a pronunciation check.
AGENT_LINES = [
    "Hello, thanks for calling Maple Street Salon. How can I help you today?",
    "On Wednesday morning I have nine, half past nine or ten. Which would you like?",
    "You're booked for colouring on Wednesday at half past nine.",
    "I've cancelled Saturday's colouring; your haircut on the 26th still stands.",
    "Thanks for calling Maple Street Salon. Have a lovely day. Goodbye!",
]
# Measured here: 0-2 word errors over these 5 lines (about 3 %); 10 % leaves room for one
# more misheard word while catching a broken voice or a wrong sample rate.
ROUND_TRIP_WER_BOUND = 0.10


@pytest.mark.audio
async def test_round_trip_through_the_stt() -> None:
    tts, stt = LocalHibariTTS(), LocalWhisperSTT()
    errors = words = 0
    for line in AGENT_LINES:
        frame = rtc.combine_audio_frames(await _frames(tts, line))
        heard = (await stt.recognize(frame)).alternatives[0].text
        e, n = word_errors(line, heard)
        errors, words = errors + e, words + n
    assert errors / words <= ROUND_TRIP_WER_BOUND, f"{errors}/{words} words wrong"
