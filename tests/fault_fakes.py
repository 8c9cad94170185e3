"""STT and TTS fakes at the plugin boundary, for the fault matrix: they work, fail or hang the
way a vendor plugin does, and are registered as providers (`fake/ok`, `fake/fail`, `fake/hang`)
so the engine builds its fallback chains from settings exactly as for a real vendor.

A failure is the `APIStatusError` a plugin raises for an upstream 5xx, with the upstream body
in the message (it echoes an auth header: the scrubber must remove it). A hang is a request
that never answers: like a real plugin, the fake gives up after its connection options'
timeout (the chain's per-attempt timeout) with `APITimeoutError`.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from bench.plugin_fakes import RATE, NamedTTS, StreamingOnlySTT, start_pcm
from livekit import rtc
from livekit.agents import APIStatusError, APITimeoutError, stt, tts
from livekit.agents.language import LanguageCode
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice import io

from callcrew.providers import stacks
from callcrew.settings import Settings

SECRET_ECHO = "Authorization: Bearer sk-fault-matrix-0123456789"
_ids = itertools.count(1)


def _upstream_error(kind: str) -> APIStatusError:
    return APIStatusError(
        f"{kind} upstream error 503: service unavailable (request headers: {SECRET_ECHO})",
        status_code=503,
        body={"error": "unavailable"},
    )


async def _hang(conn_options: APIConnectOptions) -> None:
    await asyncio.sleep(conn_options.timeout)
    raise APITimeoutError()


# --- TTS ---------------------------------------------------------------------------------------

_TONE = (3000 * np.sin(2 * np.pi * 440 * np.arange(RATE // 10) / RATE)).astype(np.int16).tobytes()


class FaultTTS(NamedTTS):
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests: list[str] = []
        super().__init__(mode, "fake")

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        self.requests.append(text)
        return _FaultChunked(tts=self, input_text=text, conn_options=conn_options)


class _FaultChunked(tts.ChunkedStream):
    def __init__(self, *, tts: FaultTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._mode = tts.mode

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        if self._mode == "fail":
            raise _upstream_error("TTS")
        if self._mode == "hang":
            await _hang(self._conn_options)
        start_pcm(output_emitter, f"fault-tts-{next(_ids)}")
        for _ in range(2):  # 0.2 s of tone: enough to count frames, quick to play
            output_emitter.push(_TONE)
        output_emitter.flush()


# --- STT ---------------------------------------------------------------------------------------


class FaultSTT(StreamingOnlySTT):
    """Streaming; `ok` hears `line` once, ~0.3 s of audio after its stream opens."""

    line = "Hi, I'd like to book a haircut please"

    def __init__(self, mode: str) -> None:
        self.mode = mode
        super().__init__(mode, "fake", interim_results=False)

    def open_stream(self, conn_options: APIConnectOptions) -> stt.RecognizeStream:
        return _FaultRecognize(stt=self, conn_options=conn_options)


class _FaultRecognize(stt.RecognizeStream):
    def __init__(self, *, stt: FaultSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=RATE)
        self._mode = stt.mode

    async def _run(self) -> None:
        if self._mode == "fail":
            raise _upstream_error("STT")
        if self._mode == "hang":
            await _hang(self._conn_options)
        frames, heard = 0, False
        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame) or heard:
                continue
            frames += 1
            if frames < 15:
                continue
            heard = True
            rid = f"fault-stt-{next(_ids)}"
            data = stt.SpeechData(language=LanguageCode("en"), text=FaultSTT.line, confidence=1.0)
            for kind in (
                stt.SpeechEventType.START_OF_SPEECH,
                stt.SpeechEventType.FINAL_TRANSCRIPT,
                stt.SpeechEventType.END_OF_SPEECH,
            ):
                alts = [data] if kind is stt.SpeechEventType.FINAL_TRANSCRIPT else []
                self._event_ch.send_nowait(
                    stt.SpeechEvent(type=kind, request_id=rid, alternatives=alts)
                )
            # Streaming vendors report billed audio as usage events (LiveKit's STT metrics).
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.RECOGNITION_USAGE,
                    request_id=rid,
                    recognition_usage=stt.RecognitionUsage(audio_duration=frames * 0.02),
                )
            )


# --- registration and audio I/O ---------------------------------------------------------------


@contextmanager
def fault_plugins() -> Iterator[None]:
    """`fake/ok`, `fake/fail`, `fake/hang` as STT and TTS providers while the block runs."""

    def make_tts(_: Settings, block: stacks.Block) -> FaultTTS:
        return FaultTTS(block.model)

    def make_stt(_: Settings, block: stacks.Block) -> FaultSTT:
        return FaultSTT(block.model)

    added = {("tts", "fake"): make_tts, ("stt", "fake"): make_stt}
    stacks.EXTRA_PLUGINS.update(added)
    try:
        yield
    finally:
        for key in added:
            stacks.EXTRA_PLUGINS.pop(key, None)


class SilentLine(io.AudioInput):
    """The caller's microphone: 20 ms frames of near-silence in real time (the fake STT 'hears'
    its line in them; what matters here is that audio flows to the STT)."""

    def __init__(self) -> None:
        super().__init__(label="fault-matrix-line")
        self._frame = rtc.AudioFrame(
            data=b"\x00\x00" * (RATE // 50),
            sample_rate=RATE,
            num_channels=1,
            samples_per_channel=RATE // 50,
        )

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(0.02)
        return self._frame


class Earpiece(io.AudioOutput):
    """What the caller hears: frames counted, the wall-clock start of each segment kept.
    Audio "plays" instantly: the matrix asserts what was heard, not how long it lasted."""

    def __init__(self) -> None:
        super().__init__(
            label="fault-matrix-ear",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=RATE,
        )
        self.frames = 0
        self.segments: list[float] = []  # time.time() of each segment's first frame
        self._pushed = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if self._pushed == 0.0:
            now = time.time()
            self.segments.append(now)
            self.on_playback_started(created_at=now)
        self.frames += 1
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        pushed, self._pushed = self._pushed, 0.0
        self.on_playback_finished(playback_position=pushed, interrupted=False)

    def clear_buffer(self) -> None:
        pushed, self._pushed = self._pushed, 0.0
        self.on_playback_finished(playback_position=pushed, interrupted=True)
