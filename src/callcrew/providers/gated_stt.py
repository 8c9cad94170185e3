"""VAD-gated STT input: a streaming STT hears the caller's speech, not the whole call.

livekit-agents 1.8.9 pushes every input frame to the STT stream (`AudioRecognition._push_audio`),
so a streaming provider that bills the audio it receives (Deepgram does) bills every minute of
the call, the agent's half included. `GatedSTT` wraps such an STT at the plugin boundary: its
own VAD stream watches the frames, and only speech reaches the provider, with a pre-roll (the
audio just before the VAD's start of speech, which the VAD needs time to recognise) and a
post-roll (so the provider's own endpointing sees the silence after the words). At the end of
each utterance the wrapped stream is flushed, which asks a streaming provider to finalise now
(Deepgram's `Finalize`); not so for LiveKit's `StreamAdapter`, whose Silero stream treats a flush
as a reset and would drop the utterance it has not yet closed.

Between utterances nothing is sent; the provider plugin keeps its connection open with its own
keepalive message (Deepgram's `KeepAlive`), and `keepalive_s` > 0 sends one silent frame that
often for a plugin that has none. A non-streaming STT is not wrapped: LiveKit's `StreamAdapter`
already sends it speech segments only.

Usage (STTMetrics audio_duration) comes from the wrapped provider's own `RECOGNITION_USAGE`
events, so the call report shows the audio the provider was actually sent.

Timestamps: a provider times its words in seconds of the audio it received, and LiveKit adds
them to the moment input started (`AudioRecognition`, for aligned-transcript STTs such as
Deepgram) to know when the caller stopped speaking, which decides whether a transcript came
before or after the agent started talking. With the silence cut out those times would run
early, so the gate maps every relayed time back onto the input's own timeline: the wrapped
stream's start_time_offset (which its plugin added) comes off, this stream's (which the session
set) goes on. (After the provider reconnects mid-call its clock restarts; the mapping is then
only approximate.)
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import dataclasses
from typing import Any

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
    TimedString,
)
from livekit.agents.utils import is_given

DEFAULT_PRE_ROLL_S = 0.5
DEFAULT_POST_ROLL_S = 0.3
_EPS = 1e-6  # sums of 20 ms frame durations drift by ~1e-15 s


class GatedSTT(stt.STT[Any]):
    """`inner` (a streaming STT) fed only the speech that `vad_model` detects."""

    def __init__(
        self,
        inner: stt.STT[Any],
        vad_model: vad.VAD,
        *,
        pre_roll_s: float = DEFAULT_PRE_ROLL_S,
        post_roll_s: float = DEFAULT_POST_ROLL_S,
        keepalive_s: float = 0.0,
    ) -> None:
        if not inner.capabilities.streaming:
            raise ValueError("GatedSTT wraps a streaming STT; a batch STT is already VAD-cut")
        if min(pre_roll_s, post_roll_s, keepalive_s) < 0:
            raise ValueError("pre_roll_s, post_roll_s and keepalive_s must not be negative")
        super().__init__(capabilities=inner.capabilities)
        self._inner = inner
        self._vad = vad_model
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.keepalive_s = keepalive_s
        self.finalize = not isinstance(inner, stt.StreamAdapter)
        # Audio forwarded to the provider and held back, summed over every stream, in seconds.
        self.sent_s = 0.0
        self.held_s = 0.0
        self._inner.on("error", self._on_inner_error)

    @property
    def wrapped_stt(self) -> stt.STT[Any]:
        return self._inner

    @property
    def model(self) -> str:
        return self._inner.model

    @property
    def provider(self) -> str:
        return self._inner.provider

    # The framework's hooks for keyterms and context carry-over go to the provider itself.
    def _update_session_keyterms(self, keyterms: list[str]) -> None:
        self._inner._update_session_keyterms(keyterms)

    def _push_conversation_item(self, ev: Any) -> None:
        self._inner._push_conversation_item(ev)

    def _on_inner_error(self, *args: Any, **kwargs: Any) -> None:
        # FallbackAdapter and the session listen for errors on the STT they were given.
        self.emit("error", *args, **kwargs)

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.SpeechEvent:
        return await self._inner.recognize(buffer, language=language, conn_options=conn_options)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        return GatedStream(
            self, self._inner.stream(language=language, conn_options=conn_options), conn_options
        )

    def prewarm(self) -> None:
        self._inner.prewarm()

    async def aclose(self) -> None:
        self._inner.off("error", self._on_inner_error)
        await self._inner.aclose()


class SentClock:
    """Maps the provider's time (seconds of audio it was sent) to the input's (seconds of audio
    the session pushed), from where each contiguous run of forwarded frames began."""

    def __init__(self) -> None:
        self.sent = 0.0
        self._sent_at: list[float] = []  # provider time where each run starts
        self._input_at: list[float] = []  # input time of that same frame
        self._next_input: float | None = None

    def forwarded(self, input_at: float, duration: float) -> None:
        if self._next_input is None or abs(input_at - self._next_input) > 1e-6:
            self._sent_at.append(self.sent)
            self._input_at.append(input_at)
        self.sent += duration
        self._next_input = input_at + duration

    def to_input(self, t: float, *, end: bool = False) -> float:
        """Where provider time `t` was on the input. At the seam between two runs one provider
        instant is two input instants: a start belongs to the later run, an end to the earlier."""
        if end:
            i = bisect.bisect_left(self._sent_at, t - _EPS) - 1
        else:
            i = bisect.bisect_right(self._sent_at, t + _EPS) - 1
        if i < 0:
            return t
        return self._input_at[i] + (t - self._sent_at[i])


class GatedStream(stt.RecognizeStream):
    """Frames in; speech (+ pre/post-roll) out to the wrapped stream; its events back."""

    def __init__(
        self, gate: GatedSTT, inner: stt.RecognizeStream, conn_options: APIConnectOptions
    ) -> None:
        # No retries here: the wrapped stream retries its own connection.
        super().__init__(stt=gate, conn_options=APIConnectOptions(max_retry=0))
        self._gate = gate
        self._inner = inner
        self._clock = SentClock()

    def _on_input_clock(self, ev: stt.SpeechEvent) -> stt.SpeechEvent:
        """`ev` with its word and segment times moved from the provider's clock to the input's.
        Only for a provider whose times LiveKit uses (`aligned_transcript`): others, such as
        LiveKit's StreamAdapter, time words within an utterance, not within the stream."""
        if not ev.alternatives or not self._gate.capabilities.aligned_transcript:
            return ev
        # A plugin adds its own stream's start_time_offset to the times it reports; LiveKit
        # seeds that offset with wall-clock time (microseconds on a quiet loop, more under load
        # or after a retry), so it comes off to give the provider's clock. The session sets the
        # offset of the stream it holds, this one, to where the input stood when it was opened:
        # that goes on, as the plugin would have added it had it not been wrapped.
        inner_offset = self._inner.start_time_offset
        offset = self.start_time_offset

        def move(t: float, end: bool = False) -> float:
            return self._clock.to_input(t - inner_offset, end=end) + offset

        def word(w: TimedString) -> TimedString:
            if not isinstance(w, TimedString):
                return w
            return TimedString(
                str(w),
                start_time=move(w.start_time) if is_given(w.start_time) else w.start_time,
                end_time=move(w.end_time, True) if is_given(w.end_time) else w.end_time,
                confidence=w.confidence,
                start_time_offset=w.start_time_offset,
                speaker_id=w.speaker_id,
            )

        # (0, 0) is a provider that gives no times: leave it so LiveKit sees no timing
        alternatives = [
            alt
            if alt.start_time == 0 and alt.end_time == 0
            else dataclasses.replace(
                alt,
                start_time=move(alt.start_time),
                end_time=move(alt.end_time, True),
                words=None if alt.words is None else [word(w) for w in alt.words],
            )
            for alt in ev.alternatives
        ]
        return dataclasses.replace(ev, alternatives=alternatives)

    async def _run(self) -> None:
        gate = self._gate
        vad_stream = gate._vad.stream()
        pre_roll: collections.deque[tuple[rtc.AudioFrame, float]] = collections.deque()
        pre_roll_s = 0.0
        speaking = False
        post_roll_left = 0.0  # seconds still to forward after an end of speech
        idle_s = 0.0
        input_s = 0.0  # where the input is, in seconds of audio pushed to this stream
        clock = self._clock

        def send(frame: rtc.AudioFrame, input_at: float) -> None:
            nonlocal idle_s
            self._inner.push_frame(frame)
            clock.forwarded(input_at, frame.duration)
            gate.sent_s += frame.duration
            idle_s = 0.0

        async def watch_vad() -> None:
            nonlocal speaking, pre_roll_s, post_roll_left
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH and not speaking:
                    speaking = True
                    post_roll_left = 0.0
                    while pre_roll:
                        frame, at = pre_roll.popleft()
                        send(frame, at)
                        gate.held_s -= frame.duration  # counted as held when it arrived
                    pre_roll_s = 0.0
                elif ev.type == vad.VADEventType.END_OF_SPEECH and speaking:
                    speaking = False
                    post_roll_left = gate.post_roll_s
                    if post_roll_left == 0 and gate.finalize:
                        self._inner.flush()

        async def forward_input() -> None:
            nonlocal pre_roll_s, post_roll_left, idle_s, input_s
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                    self._inner.flush()
                    continue
                at, input_s = input_s, input_s + item.duration
                vad_stream.push_frame(item)
                if speaking:
                    send(item, at)
                    continue
                if post_roll_left > 0:
                    send(item, at)
                    post_roll_left -= item.duration
                    if post_roll_left <= 0 and gate.finalize:
                        self._inner.flush()  # the utterance is over: finalise it now
                    continue
                pre_roll.append((item, at))
                pre_roll_s += item.duration
                gate.held_s += item.duration
                while pre_roll and pre_roll_s - pre_roll[0][0].duration >= gate.pre_roll_s:
                    pre_roll_s -= pre_roll.popleft()[0].duration
                idle_s += item.duration
                if gate.keepalive_s and idle_s >= gate.keepalive_s:
                    send(_silence_like(item), at)
            vad_stream.end_input()
            self._inner.end_input()

        async def relay_events() -> None:
            async for ev in self._inner:
                self._event_ch.send_nowait(self._on_input_clock(ev))

        tasks = [
            asyncio.create_task(forward_input(), name="gated_stt.forward_input"),
            asyncio.create_task(watch_vad(), name="gated_stt.watch_vad"),
        ]
        relay = asyncio.create_task(relay_events(), name="gated_stt.relay")
        try:
            await asyncio.gather(*tasks)
            await relay  # the wrapped stream ends after its input does
        finally:
            await utils.aio.cancel_and_wait(*tasks, relay)
            await vad_stream.aclose()
            with contextlib.suppress(Exception):
                await self._inner.aclose()


def _silence_like(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    samples = frame.sample_rate // 50  # 20 ms
    return rtc.AudioFrame(
        bytes(samples * frame.num_channels * 2), frame.sample_rate, frame.num_channels, samples
    )


def gate_stt(
    inner: stt.STT[Any], vad_model: vad.VAD | None, *, enabled: bool, **options: Any
) -> stt.STT[Any]:
    """`inner` gated by `vad_model` when enabled and worth it (a streaming STT and a VAD)."""
    if not enabled or vad_model is None or not inner.capabilities.streaming:
        return inner
    return GatedSTT(inner, vad_model, **options)
