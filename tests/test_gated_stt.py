"""VAD-gated STT input: only speech (with pre- and post-roll) reaches a streaming provider.

The fakes sit at the plugin boundary: a streaming STT that records every frame it is sent and
reports usage the way a cloud plugin does, and an energy VAD (speech = a loud frame).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.language import LanguageCode
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    TimedString,
)

from callcrew.providers.gated_stt import GatedSTT, gate_stt

pytestmark = pytest.mark.unit

RATE = 16_000
FRAME = RATE // 50  # 20 ms


def frames(pattern: list[tuple[str, float]]) -> list[rtc.AudioFrame]:
    """("speech"|"silence", seconds) pieces as 20 ms frames."""
    out = []
    for kind, seconds in pattern:
        for _ in range(round(seconds * 50)):
            level = 8000 if kind == "speech" else 0
            out.append(rtc.AudioFrame(np.full(FRAME, level, np.int16).tobytes(), RATE, 1, FRAME))
    return out


class EnergyVAD(vad.VAD):
    """Speech = a frame with any energy; end of speech after `silence_s` of quiet frames."""

    def __init__(self, silence_s: float = 0.2) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.02))
        self.silence_s = silence_s

    def stream(self) -> vad.VADStream:
        return _EnergyStream(self)


class _EnergyStream(vad.VADStream):
    async def _main_task(self) -> None:
        assert isinstance(self._vad, EnergyVAD)
        speaking, quiet, index = False, 0.0, 0
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                continue
            index += item.samples_per_channel
            loud = bool(np.frombuffer(item.data, np.int16).any())
            kind = None
            if loud and not speaking:
                speaking, kind = True, vad.VADEventType.START_OF_SPEECH
            elif loud:
                quiet = 0.0
            elif speaking:
                quiet += item.duration
                if quiet >= self._vad.silence_s:
                    speaking, quiet, kind = False, 0.0, vad.VADEventType.END_OF_SPEECH
            if kind is not None:
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=kind,
                        samples_index=index,
                        timestamp=0.0,
                        speech_duration=0.0,
                        silence_duration=0.0,
                    )
                )


class RecordingStreamingSTT(stt.STT):
    """A streaming provider: bills what it is sent, finalises on flush. `connect_lag_s` is
    wall-clock time LiveKit counted into the stream's start_time_offset before it connected
    (a slow loop, a failed first attempt), which a plugin adds to every time it reports."""

    def __init__(self, connect_lag_s: float = 0.0) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=False, aligned_transcript="word"
            )
        )
        self.received: list[rtc.AudioFrame] = []
        self.flushes = 0
        self.connect_lag_s = connect_lag_s

    @property
    def model(self) -> str:
        return "recording"

    @property
    def provider(self) -> str:
        return "fake"

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        raise NotImplementedError

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return _RecordingStream(stt=self, conn_options=conn_options)


class _RecordingStream(stt.RecognizeStream):
    async def _run(self) -> None:
        owner = self._stt
        assert isinstance(owner, RecordingStreamingSTT)
        pending = 0.0
        heard = 0.0  # seconds of audio received: the provider's own clock
        self.start_time_offset += owner.connect_lag_s
        async for item in self._input_ch:
            if isinstance(item, self._FlushSentinel):
                if pending:
                    owner.flushes += 1
                    # the provider's clock plus the stream's offset, as a plugin reports
                    # them (Deepgram): LiveKit seeds that offset with wall-clock time
                    start = heard - pending + self.start_time_offset
                    end = heard + self.start_time_offset
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                            alternatives=[
                                stt.SpeechData(
                                    language=LanguageCode("en"),
                                    text=f"{pending:.2f}",
                                    start_time=start,
                                    end_time=end,
                                    words=[TimedString("w", start_time=start, end_time=end)],
                                )
                            ],
                        )
                    )
                    self._event_ch.send_nowait(
                        stt.SpeechEvent(
                            type=stt.SpeechEventType.RECOGNITION_USAGE,
                            recognition_usage=stt.RecognitionUsage(audio_duration=pending),
                        )
                    )
                pending = 0.0
                continue
            owner.received.append(item)
            pending += item.duration
            heard += item.duration


async def run_gate(
    gate: stt.STT, audio: list[rtc.AudioFrame], *, input_offset_s: float = 0.0
) -> tuple[list[Any], list[Any]]:
    metrics: list[Any] = []
    gate.on("metrics_collected", metrics.append)
    stream = gate.stream()
    # as the session does: where the input stood when this stream was opened
    stream.start_time_offset = input_offset_s
    events: list[Any] = []

    async def read() -> None:
        async for ev in stream:
            events.append(ev)

    reader = asyncio.create_task(read())
    for frame in audio:
        stream.push_frame(frame)
        await asyncio.sleep(0)  # let the VAD and the gate keep up, as the real-time mic does
    stream.end_input()
    await asyncio.wait_for(reader, 5)
    await stream.aclose()
    return events, metrics


def loud(frame: rtc.AudioFrame) -> bool:
    return bool(np.frombuffer(frame.data, np.int16).any())


async def test_only_speech_with_pre_and_post_roll_reaches_the_provider() -> None:
    inner = RecordingStreamingSTT()
    gate = GatedSTT(inner, EnergyVAD(silence_s=0.2), pre_roll_s=0.3, post_roll_s=0.2)
    audio = frames(
        [("silence", 1.0), ("speech", 1.0), ("silence", 2.0), ("speech", 0.5), ("silence", 2.0)]
    )
    events, metrics = await run_gate(gate, audio)

    sent = sum(f.duration for f in inner.received)
    # every speech frame arrives, in order
    assert sum(loud(f) for f in inner.received) == sum(loud(f) for f in audio)
    # speech 1.5 s + per utterance: 0.3 pre-roll + 0.2 of VAD hangover + 0.2 post-roll
    assert sent == pytest.approx(1.5 + 2 * (0.3 + 0.2 + 0.2), abs=0.05)
    assert sent < 0.5 * sum(f.duration for f in audio)
    assert gate.sent_s == pytest.approx(sent)
    assert gate.sent_s + gate.held_s == pytest.approx(sum(f.duration for f in audio))
    # the first frame sent is pre-roll silence: the provider hears the start of the word
    assert not loud(inner.received[0])
    # one finalised transcript per utterance, relayed to the session
    assert inner.flushes == 2
    finals = [e for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 2
    # times come back on the input's clock, not the provider's (which skips the silences):
    # utterance 1 is sent from 0.7 s (1.0 s - 0.3 pre-roll) to 2.4 s, utterance 2 from 3.7 s
    # (give or take the VAD's lag of a few frames)
    starts = [f.alternatives[0].start_time for f in finals]
    ends = [f.alternatives[0].end_time for f in finals]
    assert starts == pytest.approx([0.7, 3.7], abs=0.1)
    assert ends == pytest.approx([2.4, 4.9], abs=0.1)
    words = finals[1].alternatives[0].words
    assert words is not None and float(words[0].end_time) == pytest.approx(ends[1])
    # usage is what the provider was sent, reported under the gate's label
    assert sum(m.audio_duration for m in metrics) == pytest.approx(sent, abs=1e-6)


@pytest.mark.parametrize("connect_lag_s", [2e-6, 0.5])
async def test_times_survive_wall_clock_in_the_providers_offset(connect_lag_s: float) -> None:
    # The CI flake: under load LiveKit's _main_task counted a few microseconds of wall clock
    # into the provider stream's offset, and the utterances' starts, which sit exactly on the
    # seams of the sent audio, fell into the run before (0.0 and 2.48 instead of 0.7 and 3.7).
    inner = RecordingStreamingSTT(connect_lag_s=connect_lag_s)
    gate = GatedSTT(inner, EnergyVAD(silence_s=0.2), pre_roll_s=0.3, post_roll_s=0.2)
    audio = frames(
        [("silence", 1.0), ("speech", 1.0), ("silence", 2.0), ("speech", 0.5), ("silence", 2.0)]
    )
    events, _ = await run_gate(gate, audio)
    finals = [e for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert [f.alternatives[0].start_time for f in finals] == pytest.approx([0.7, 3.7], abs=0.1)
    assert [f.alternatives[0].end_time for f in finals] == pytest.approx([2.4, 4.9], abs=0.1)


async def test_times_are_on_the_sessions_input_clock() -> None:
    # A stream opened 10 s into the input (a new agent activity): the session sets its offset,
    # and the times it reads must include it, as an unwrapped plugin's would.
    inner = RecordingStreamingSTT()
    gate = GatedSTT(inner, EnergyVAD(silence_s=0.2), pre_roll_s=0.3, post_roll_s=0.2)
    audio = frames([("silence", 1.0), ("speech", 1.0), ("silence", 1.0)])
    events, _ = await run_gate(gate, audio, input_offset_s=10.0)
    finals = [e for e in events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 1
    alt = finals[0].alternatives[0]
    assert (alt.start_time, alt.end_time) == pytest.approx((10.7, 12.4), abs=0.1)
    assert alt.words is not None and float(alt.words[0].start_time) == pytest.approx(10.7, abs=0.1)


async def test_keepalive_sends_a_silent_frame_while_idle() -> None:
    inner = RecordingStreamingSTT()
    gate = GatedSTT(inner, EnergyVAD(), pre_roll_s=0.0, post_roll_s=0.0, keepalive_s=1.0)
    await run_gate(gate, frames([("silence", 5.0)]))
    assert len(inner.received) == 5  # one 20 ms frame a second, nothing else
    assert not any(loud(f) for f in inner.received)


def test_gate_only_wraps_a_streaming_stt_with_a_vad() -> None:
    inner = RecordingStreamingSTT()
    energy = EnergyVAD()
    assert isinstance(gate_stt(inner, energy, enabled=True), GatedSTT)
    assert gate_stt(inner, energy, enabled=False) is inner
    assert gate_stt(inner, None, enabled=True) is inner
    batch = stt.StreamAdapter  # a non-streaming STT is already cut by LiveKit's StreamAdapter
    assert batch is not None
    with pytest.raises(ValueError, match="negative"):
        GatedSTT(inner, energy, pre_roll_s=-1)


async def test_the_session_gates_a_streaming_stt_by_default() -> None:
    from callcrew.providers.session import build_session
    from callcrew.providers.stacks import resolve_stack
    from callcrew.settings import Settings

    keys = {"deepgram_api_key": "k", "openai_api_key": "k", "cartesia_api_key": "k"}
    on = Settings(_env_file=None, **keys)  # type: ignore[call-arg]
    session = build_session(on, resolve_stack(on), userdata=None, vad_model=EnergyVAD())
    assert isinstance(session.stt, GatedSTT)
    assert session.stt.pre_roll_s == on.stt_gate_pre_roll_s == 0.5
    assert session.stt.wrapped_stt.provider == "Deepgram"
    off = Settings(_env_file=None, stt_vad_gate=False, **keys)  # type: ignore[call-arg]
    session = build_session(off, resolve_stack(off), userdata=None, vad_model=EnergyVAD())
    assert not isinstance(session.stt, GatedSTT)


def test_keyterms_and_context_reach_the_provider() -> None:
    class Keyed(RecordingStreamingSTT):
        def __init__(self) -> None:
            super().__init__()
            self.keyterms: list[str] = []

        def _update_session_keyterms(self, keyterms: list[str]) -> None:
            self.keyterms = keyterms

    inner = Keyed()
    GatedSTT(inner, EnergyVAD())._update_session_keyterms(["Maple Street"])
    assert inner.keyterms == ["Maple Street"]


def test_sent_clock_maps_the_provider_time_onto_the_input() -> None:
    from callcrew.providers.gated_stt import SentClock

    clock = SentClock()
    for i in range(10):  # 0.2 s sent from input 1.0 s
        clock.forwarded(1.0 + i * 0.02, 0.02)
    for i in range(5):  # 0.1 s sent from input 5.0 s
        clock.forwarded(5.0 + i * 0.02, 0.02)
    assert clock.to_input(0.1) == pytest.approx(1.1)
    # the seam: a start is the second run's, an end the first's
    assert clock.to_input(0.2) == pytest.approx(5.0)
    assert clock.to_input(0.2, end=True) == pytest.approx(1.2)
    assert clock.to_input(0.25, end=True) == pytest.approx(5.05)
