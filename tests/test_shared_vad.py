"""One VAD inference per call: the session's stream, heard by the STT gate and the batch adapter.

The VAD at the plugin boundary is an energy VAD counting the frames it runs inference on; the
streaming STT and the audio are those of tests/test_gated_stt.py.
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
)

from callcrew.providers.gated_stt import GatedSTT
from callcrew.providers.shared_vad import ALONE_AFTER_S, CallVAD, call_vad
from tests.test_gated_stt import RecordingStreamingSTT, frames, loud

pytestmark = pytest.mark.unit

PATTERN = [("silence", 0.6), ("speech", 1.0), ("silence", 1.0), ("speech", 0.6), ("silence", 1.0)]


class CountingVAD(vad.VAD):
    """An energy VAD (speech = a loud frame, end after 0.2 s quiet) that, like Silero, hands
    the utterance's frames over with its end of speech, and counts the streams it opened and
    the frames it ran inference on."""

    def __init__(self) -> None:
        super().__init__(capabilities=vad.VADCapabilities(update_interval=0.02))
        self.silence_s = 0.2
        self.streams = 0
        self.inferred = 0

    def stream(self) -> vad.VADStream:
        self.streams += 1
        return _CountingStream(self)


class _CountingStream(vad.VADStream):
    async def _main_task(self) -> None:
        model = self._vad
        assert isinstance(model, CountingVAD)
        speech: list[rtc.AudioFrame] = []
        quiet = 0.0
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):
                speech, quiet = [], 0.0  # a flush: a fresh segment
                continue
            model.inferred += 1
            kind = None
            if loud(item):
                kind = None if speech else vad.VADEventType.START_OF_SPEECH
                speech.append(item)
                quiet = 0.0
            elif speech:
                quiet += item.duration
                if quiet >= model.silence_s:
                    kind = vad.VADEventType.END_OF_SPEECH
            if kind is not None:
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=kind,
                        samples_index=0,
                        timestamp=0.0,
                        speech_duration=0.0,
                        silence_duration=0.0,
                        frames=list(speech),
                    )
                )
                if kind is vad.VADEventType.END_OF_SPEECH:
                    speech, quiet = [], 0.0


async def _drain(stream: Any, into: list[Any]) -> None:
    async for ev in stream:
        into.append(ev)


async def _feed(streams: list[Any], audio: list[rtc.AudioFrame]) -> None:
    """The same frames to every stream, as AudioRecognition pushes each to the STT and VAD."""
    for frame in audio:
        for s in streams:
            s.push_frame(frame)
        await asyncio.sleep(0)
    for s in streams:
        s.end_input()


def _boundaries(events: list[Any]) -> list[str]:
    return [
        e.type.value
        for e in events
        if getattr(e, "type", None)
        in (vad.VADEventType.START_OF_SPEECH, vad.VADEventType.END_OF_SPEECH)
    ]


async def test_the_gate_hears_the_sessions_vad_and_the_model_runs_once_per_frame() -> None:
    model = CountingVAD()
    shared = CallVAD(model)
    audio = frames(PATTERN)
    inner = RecordingStreamingSTT()
    gate = GatedSTT(inner, shared.follower(), pre_roll_s=0.2, post_roll_s=0.2)

    session_stream = shared.stream()
    gate_stream = gate.stream()
    session_events: list[Any] = []
    gate_events: list[Any] = []
    readers = [
        asyncio.create_task(_drain(session_stream, session_events)),
        asyncio.create_task(_drain(gate_stream, gate_events)),
    ]
    await _feed([session_stream, gate_stream], audio)
    await asyncio.wait_for(asyncio.gather(*readers), 5)

    assert model.streams == 1  # the gate opened no stream of its own
    assert model.inferred == len(audio)  # every frame inferred once, not twice
    assert _boundaries(session_events) == ["start_of_speech", "end_of_speech"] * 2
    # and the gate still forwards the speech, with its rolls, and finalises each utterance
    speech = sum(1 for f in inner.received if loud(f))
    assert speech == sum(1 for f in audio if loud(f))
    assert len(inner.received) < len(audio)
    assert inner.flushes == 2
    finals = [e for e in gate_events if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(finals) == 2


async def test_a_follower_with_no_session_stream_runs_its_own_inference() -> None:
    model = CountingVAD()
    follower = CallVAD(model).follower()
    stream = follower.stream()
    events: list[Any] = []
    reader = asyncio.create_task(_drain(stream, events))
    audio = frames([("silence", ALONE_AFTER_S + 0.2), *PATTERN[1:]])
    await _feed([stream], audio)
    await asyncio.wait_for(reader, 5)

    assert follower.own_streams == 1 and model.streams == 1
    assert model.inferred == len(audio)  # the held frames too: nothing before it was lost
    assert _boundaries(events) == ["start_of_speech", "end_of_speech"] * 2


async def test_during_a_handoff_only_the_newest_session_stream_speaks_for_the_call() -> None:
    shared = CallVAD(CountingVAD())
    follower_stream = shared.follower().stream()
    old, new = shared.stream(), shared.stream()
    heard: list[Any] = []
    sinks: list[list[Any]] = [[], []]
    readers = [
        asyncio.create_task(_drain(follower_stream, heard)),
        asyncio.create_task(_drain(old, sinks[0])),
        asyncio.create_task(_drain(new, sinks[1])),
    ]
    await _feed([old, new, follower_stream], frames(PATTERN))
    await asyncio.wait_for(asyncio.gather(*readers), 5)

    assert _boundaries(sinks[0]) == _boundaries(sinks[1])  # both sessions see the speech
    assert _boundaries(heard) == ["start_of_speech", "end_of_speech"] * 2  # once, not twice


async def test_a_followers_flush_does_not_reset_the_sessions_view() -> None:
    shared = CallVAD(CountingVAD())
    session_stream, follower_stream = shared.stream(), shared.follower().stream()
    session_events: list[Any] = []
    readers = [
        asyncio.create_task(_drain(session_stream, session_events)),
        asyncio.create_task(_drain(follower_stream, [])),
    ]
    audio = frames(PATTERN)
    mid_utterance = int((0.6 + 0.5) * 50)
    for i, frame in enumerate(audio):
        session_stream.push_frame(frame)
        follower_stream.push_frame(frame)
        if i == mid_utterance:
            follower_stream.flush()  # the STT side asks for a reset mid-utterance
        await asyncio.sleep(0)
    session_stream.end_input()
    follower_stream.end_input()
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert _boundaries(session_events) == ["start_of_speech", "end_of_speech"] * 2


class BatchSTT(stt.STT):
    """A batch provider (Whisper-like): one recognition per utterance LiveKit's adapter cuts."""

    def __init__(self) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.utterances: list[float] = []

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        loud_s = np.count_nonzero(np.frombuffer(frame.data, np.int16)) / frame.sample_rate
        self.utterances.append(round(loud_s, 2))
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            alternatives=[stt.SpeechData(language=LanguageCode("en"), text=f"{loud_s:.2f}")],
        )


async def test_the_batch_adapter_transcribes_each_utterance_from_the_sessions_vad() -> None:
    model = CountingVAD()
    shared = CallVAD(model)
    whisper = BatchSTT()
    adapter = stt.StreamAdapter(stt=whisper, vad=shared.follower())
    session_stream = shared.stream()
    stt_stream = adapter.stream()
    finals: list[Any] = []
    readers = [
        asyncio.create_task(_drain(session_stream, [])),
        asyncio.create_task(_drain(stt_stream, finals)),
    ]
    await _feed([session_stream, stt_stream], frames(PATTERN))
    await asyncio.wait_for(asyncio.gather(*readers), 5)

    assert model.streams == 1
    assert whisper.utterances == [1.0, 0.6]  # each utterance whole, once
    texts = [e for e in finals if e.type == stt.SpeechEventType.FINAL_TRANSCRIPT]
    assert len(texts) == 2


def test_call_vad_wraps_once_and_reads_through_to_the_model() -> None:
    model = CountingVAD()
    shared = call_vad(model)
    assert isinstance(shared, CallVAD)
    assert call_vad(shared) is shared and call_vad(None) is None
    assert shared.silence_s == 0.2  # LiveKit reads the model's settings off the VAD it holds
    assert shared.capabilities is model.capabilities


class _WindowStream(_CountingStream):
    """Also one INFERENCE_DONE per frame, as Silero sends one per window."""

    async def _main_task(self) -> None:
        async for item in self._input_ch:
            if isinstance(item, rtc.AudioFrame):
                self._event_ch.send_nowait(
                    vad.VADEvent(
                        type=vad.VADEventType.INFERENCE_DONE,
                        samples_index=0,
                        timestamp=0.0,
                        speech_duration=0.0,
                        silence_duration=0.0,
                        frames=[item],
                    )
                )


class WindowVAD(CountingVAD):
    def stream(self) -> vad.VADStream:
        self.streams += 1
        return _WindowStream(self)


async def test_only_a_follower_that_asks_hears_every_inference_window() -> None:
    shared = CallVAD(WindowVAD())
    audio = frames(PATTERN)
    session = shared.stream()
    windows = shared.follower(inference_events=True).stream()
    boundaries_only = shared.follower().stream()
    seen: dict[str, list[Any]] = {"session": [], "windows": [], "boundaries": []}
    readers = [
        asyncio.create_task(_drain(s, seen[k]))
        for k, s in (("session", session), ("windows", windows), ("boundaries", boundaries_only))
    ]
    for frame in audio:
        for s in (session, windows, boundaries_only):
            s.push_frame(frame)
        await asyncio.sleep(0)
    session.end_input()
    await asyncio.wait_for(readers[0], 5)
    await asyncio.sleep(0.05)  # (the relays hand on what the session published)
    windows.end_input()
    boundaries_only.end_input()
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert len(seen["session"]) == len(audio)
    assert len(seen["windows"]) == len(audio)  # the turn STT's early decode reads these
    assert seen["boundaries"] == []  # the gate's follower is not woken 30 times a second
