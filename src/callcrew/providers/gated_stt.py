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
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

DEFAULT_PRE_ROLL_S = 0.5
DEFAULT_POST_ROLL_S = 0.3


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


class GatedStream(stt.RecognizeStream):
    """Frames in; speech (+ pre/post-roll) out to the wrapped stream; its events back."""

    def __init__(
        self, gate: GatedSTT, inner: stt.RecognizeStream, conn_options: APIConnectOptions
    ) -> None:
        # No retries here: the wrapped stream retries its own connection.
        super().__init__(stt=gate, conn_options=APIConnectOptions(max_retry=0))
        self._gate = gate
        self._inner = inner

    async def _run(self) -> None:
        gate = self._gate
        vad_stream = gate._vad.stream()
        pre_roll: collections.deque[rtc.AudioFrame] = collections.deque()
        pre_roll_s = 0.0
        speaking = False
        post_roll_left = 0.0  # seconds still to forward after an end of speech
        idle_s = 0.0

        def send(frame: rtc.AudioFrame) -> None:
            nonlocal idle_s
            self._inner.push_frame(frame)
            gate.sent_s += frame.duration
            idle_s = 0.0

        async def watch_vad() -> None:
            nonlocal speaking, pre_roll_s, post_roll_left
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH and not speaking:
                    speaking = True
                    post_roll_left = 0.0
                    while pre_roll:
                        frame = pre_roll.popleft()
                        send(frame)
                        gate.held_s -= frame.duration  # counted as held when it arrived
                    pre_roll_s = 0.0
                elif ev.type == vad.VADEventType.END_OF_SPEECH and speaking:
                    speaking = False
                    post_roll_left = gate.post_roll_s
                    if post_roll_left == 0 and gate.finalize:
                        self._inner.flush()

        async def forward_input() -> None:
            nonlocal pre_roll_s, post_roll_left, idle_s
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel):
                    vad_stream.flush()
                    self._inner.flush()
                    continue
                vad_stream.push_frame(item)
                if speaking:
                    send(item)
                    continue
                if post_roll_left > 0:
                    send(item)
                    post_roll_left -= item.duration
                    if post_roll_left <= 0 and gate.finalize:
                        self._inner.flush()  # the utterance is over: finalise it now
                    continue
                pre_roll.append(item)
                pre_roll_s += item.duration
                gate.held_s += item.duration
                while pre_roll and pre_roll_s - pre_roll[0].duration >= gate.pre_roll_s:
                    pre_roll_s -= pre_roll.popleft().duration
                idle_s += item.duration
                if gate.keepalive_s and idle_s >= gate.keepalive_s:
                    send(_silence_like(item))
            vad_stream.end_input()
            self._inner.end_input()

        async def relay_events() -> None:
            async for ev in self._inner:
                self._event_ch.send_nowait(ev)

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
