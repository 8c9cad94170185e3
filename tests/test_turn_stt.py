"""Whisper heard a turn at a time (providers/turn_stt.py).

`unit` tests need no model; the `audio` test runs Silero and Whisper tiny.en for real on an
espeak-ng caller who pauses mid-line.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import metrics, stt

from callcrew.providers.local_stt import LocalWhisperSTT
from callcrew.providers.turn_stt import (
    GAP_S,
    NEW_TURN_AFTER_S,
    TurnAudio,
    TurnContextSTT,
    cut_by_vad,
)
from callcrew.providers.whisper_decode import fits
from callcrew.settings import Settings
from callcrew.simulate.audio import speak, wer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


def _seconds(s: float) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.full(int(s * 16000), 0.1, np.float32)


@pytest.mark.unit
def test_a_turn_keeps_its_utterances_and_what_was_said_for_them() -> None:
    turn = TurnAudio().with_piece(_seconds(1.0), now=10.0)
    assert turn.earlier_words() == ""  # the first utterance has nothing before it
    turn.said.append("It's Nguyen,")
    before = turn
    turn = turn.with_piece(_seconds(0.5), now=11.0)
    assert turn.earlier_words() == "It's Nguyen,"
    assert turn.seconds() == pytest.approx(1.5 + 2 * GAP_S)
    assert len(turn.audio()) == int((1.5 + 2 * GAP_S) * 16000)
    assert len(before.pieces) == 1  # an early decode's candidate leaves the turn as it was


@pytest.mark.unit
def test_a_long_silence_starts_a_new_turn() -> None:
    turn = TurnAudio().with_piece(_seconds(1.0), now=10.0)
    turn.said.append("Hello.")
    turn = turn.with_piece(_seconds(1.0), now=10.0 + 1.0 + NEW_TURN_AFTER_S + 0.1)
    assert len(turn.pieces) == 1 and turn.earlier_words() == ""


@pytest.mark.unit
def test_the_context_never_outgrows_a_fitted_window() -> None:
    turn = TurnAudio()
    for i in range(8):
        turn = turn.with_piece(_seconds(4.0), now=float(i))
        turn.said.append(f"piece {i}")
    assert fits(turn.seconds())
    assert len(turn.pieces) == 4  # 4 x (4 s + gap) fits, 5 would not
    assert turn.earlier_words() == "piece 4 piece 5 piece 6"  # the oldest words went with them


@pytest.mark.unit
def test_only_whisper_is_heard_a_turn_at_a_time() -> None:
    from livekit.plugins import silero

    vad = silero.VAD.load()
    whisper = LocalWhisperSTT()
    assert isinstance(cut_by_vad(whisper, vad, turn_context=True), TurnContextSTT)
    assert isinstance(cut_by_vad(whisper, vad, turn_context=False), stt.StreamAdapter)
    engine = cut_by_vad(whisper, vad, turn_context=True)
    assert engine.capabilities.streaming and engine.capabilities.chat_context
    assert Settings(_env_file=None).stt_turn_context  # type: ignore[call-arg]


# --- audio: the real models --------------------------------------------------------------------


async def _play(
    stream: stt.RecognizeStream, pcm: np.ndarray[Any, Any], *, real_time: bool = False
) -> None:
    """20 ms frames, as a room delivers them: as fast as they go (Silero needs no wall clock)
    or, `real_time`, one every 20 ms (a decode can then finish before the VAD's end)."""
    for i in range(0, len(pcm), 320):
        chunk = pcm[i : i + 320]
        if len(chunk) < 320:
            chunk = np.pad(chunk, (0, 320 - len(chunk)))
        stream.push_frame(rtc.AudioFrame(chunk.astype(np.int16).tobytes(), 16000, 1, 320))
        if real_time:
            await asyncio.sleep(0.02)
        elif i % 3200 == 0:
            await asyncio.sleep(0)


def _engine(min_silence_s: float) -> TurnContextSTT:
    from livekit.plugins import silero

    whisper = LocalWhisperSTT()
    whisper.load()
    return TurnContextSTT(whisper=whisper, vad=silero.VAD.load(min_silence_duration=min_silence_s))


async def _hear(
    engine: TurnContextSTT,
    pcm: np.ndarray[Any, Any],
    *,
    on_event: Callable[[stt.SpeechEvent, list[str]], None] | None = None,
    settle_s: float = 0.0,
    real_time: bool = False,
) -> list[str]:
    """Play `pcm` into one stream of `engine` and return its finals' texts; `on_event` sees
    every event with the finals so far; `settle_s`: wait before the input ends."""
    stream = engine.stream()
    finals: list[str] = []

    async def collect() -> None:
        async for ev in stream:
            if on_event is not None:
                on_event(ev, finals)
            if ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                finals.append(ev.alternatives[0].text)

    reader = asyncio.create_task(collect())
    await _play(stream, pcm, real_time=real_time)
    await asyncio.sleep(settle_s)
    stream.end_input()
    await asyncio.wait_for(reader, timeout=60)
    await stream.aclose()
    return finals


@pytest.mark.audio
@needs_espeak
async def test_a_caller_who_pauses_is_heard_in_context() -> None:
    # Alone, the second piece came back as "4 2 4 2" and the third as "Well, I'm..." (67 %
    # WER for the line); heard after the first, 22 % ("The car number end in... 4, 2... 1, 9").
    pieces = ["The card number ends in,", "four, two,", "one, nine."]
    line = "The card number ends in, four, two, one, nine."
    pause = np.zeros(int(0.6 * 16000), np.int16)
    pcm = np.concatenate([p for piece in pieces for p in (speak(piece), pause)] + [pause] * 3)

    engine = _engine(0.25)
    usage: list[metrics.STTMetrics] = []
    engine.on("metrics_collected", usage.append)
    finals = await _hear(engine, pcm)

    assert len(finals) >= 2, finals  # the 0.6 s pauses cut the line
    joined = " ".join(finals)
    assert joined.lower().count("number") == 1, finals  # no final repeats an earlier one
    assert wer(line, joined) <= 0.4, finals
    # usage counts each utterance once (its speech, Silero's 0.5 s pre-roll and 0.25 s of
    # silence), though Whisper heard the first piece three times
    heard = sum(m.audio_duration for m in usage)
    speech = sum(len(speak(p)) for p in pieces) / 16000
    assert len(usage) == len(finals)
    assert speech <= heard <= speech + len(finals) * 0.9, (heard, speech)


@pytest.mark.audio
@needs_espeak
async def test_an_early_decode_the_caller_talks_over_is_dropped() -> None:
    """A 0.35 s pause inside an utterance (the VAD ends one after 0.55 s) starts an early
    decode after a moment of silence; the caller goes on, so it is dropped, and the utterance
    is transcribed whole, once, at its end."""
    import callcrew.providers.local_stt as local_stt

    first, second = "I'd like a haircut,", "on Friday morning."
    pause, tail = np.zeros(int(0.35 * 16000), np.int16), np.zeros(int(1.2 * 16000), np.int16)
    pcm = np.concatenate([speak(first), pause, speak(second), tail])
    engine = _engine(0.55)
    before = next(local_stt._ids)
    # settle: let the dropped decode finish (it runs in a worker thread)
    finals = await _hear(engine, pcm, settle_s=1.0)
    after = next(local_stt._ids)

    assert len(finals) == 1, finals
    text = finals[0]
    assert wer(f"{first} {second}", text) <= 0.3, text
    # Whisper ran more often than finals were sent: the early decode(s) at the pause (and the
    # one at the end, used or not) were decodes of their own
    assert after - before - 1 >= 2


@pytest.mark.audio
@needs_espeak
async def test_words_decoded_as_the_conversation_moves_on_are_kept() -> None:
    """The agent's reply lands in the chat (a new turn) while Whisper is decoding the caller's
    utterance: its words are still sent, and the next utterance is heard after them."""
    from livekit.agents import llm
    from livekit.agents.voice.events import ConversationItemAddedEvent

    first, second = "Wednesday morning if you can.", "Half past nine would be perfect."
    gap = np.zeros(int(1.0 * 16000), np.int16)
    pcm = np.concatenate([speak(first), gap, speak(second), gap, gap])
    engine = _engine(0.25)
    reply = ConversationItemAddedEvent(
        item=llm.ChatMessage(role="assistant", content=["Sure, let me look."])
    )

    def reply_lands(ev: stt.SpeechEvent, finals: list[str]) -> None:
        if ev.type == stt.SpeechEventType.END_OF_SPEECH and not finals:
            engine._push_conversation_item(reply)  # as LiveKit does, mid-decode

    finals = await _hear(engine, pcm, on_event=reply_lands)

    # (where Whisper puts the boundary between the two finals varies with the machine's load:
    # "Wednesday morning if" + "you can half past ..." is the same words, kept)
    assert len(finals) == 2, finals
    assert wer(f"{first} {second}", " ".join(finals)) <= 0.3, finals


@pytest.mark.audio
@needs_espeak
async def test_the_early_words_go_out_as_a_preflight_before_the_final() -> None:
    """The early decode, started after a moment of silence, is sent as a preflight transcript,
    which starts LiveKit's preemptive generation, and the final at the VAD's end carries the
    same words (so LiveKit keeps the reply it started). The VAD's 1.5 s of silence leave a
    loaded box time to finish the early decode first."""
    line = "I'd like a haircut on Friday morning."
    pcm = np.concatenate([speak(line), np.zeros(int(2.0 * 16000), np.int16)])
    engine = _engine(1.5)
    events: list[tuple[stt.SpeechEventType, str]] = []

    def seen(ev: stt.SpeechEvent, _finals: list[str]) -> None:
        events.append((ev.type, ev.alternatives[0].text if ev.alternatives else ""))

    finals = await _hear(engine, pcm, on_event=seen, real_time=True)

    kinds = [kind for kind, _ in events]
    assert stt.SpeechEventType.PREFLIGHT_TRANSCRIPT in kinds, kinds
    early = kinds.index(stt.SpeechEventType.PREFLIGHT_TRANSCRIPT)
    final = kinds.index(stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert early < final and kinds.count(stt.SpeechEventType.PREFLIGHT_TRANSCRIPT) == 1
    assert events[early][1] == events[final][1] == finals[0]
    assert wer(line, finals[0]) <= 0.3, finals
