"""One VAD inference per call, heard by every part of the call that needs speech boundaries.

A call needs the caller's speech boundaries in up to three places: the session (turn-taking,
barge-in), the STT gate (providers/gated_stt.py: a streaming provider hears only speech) and
LiveKit's `StreamAdapter` (a batch STT such as Whisper is sent one utterance at a time). Each
opens its own VAD stream and runs Silero on the very same frames, so a call paid for the same
inference two or three times: on the capacity bench (docs/benchmarks.md) the second stream was
~0.06 cores of a ~0.3-core call.

`CallVAD` wraps the process's VAD model for one call. The session gets the `CallVAD` itself:
its streams are the model's real streams, and every event of the newest one is also published
to listeners. The gate and the adapter get `CallVAD.follower()`: a VAD whose streams run no
inference while a session stream is open; they yield the session stream's events instead
(START/END of speech, END carrying the utterance's frames, which is what the adapter
transcribes). A follower stream opened where no session stream ever opens (a gate used on its
own) notices within `ALONE_AFTER_S` of audio and runs its own inference from the frames it
held, so it is never deaf.

The followers ignore their input's flushes: the session owns the VAD's state, and a reset
asked for by the STT side (a gate's or adapter's flush) must not cut the session's view of the
caller's speech.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from livekit import rtc
from livekit.agents import utils, vad

# Audio a follower holds, waiting for a session stream to open, before it runs its own VAD.
ALONE_AFTER_S = 1.0
_BOUNDARIES = (vad.VADEventType.START_OF_SPEECH, vad.VADEventType.END_OF_SPEECH)


class CallVAD(vad.VAD):
    """The session's VAD for one call: the model's own streams, their events shared."""

    def __init__(self, model: vad.VAD) -> None:
        super().__init__(capabilities=model.capabilities)
        self._model = model
        self._streams: list[_PublishingStream] = []
        # each follower stream's queue, and whether it also hears every inference window
        self._listeners: dict[asyncio.Queue[vad.VADEvent], bool] = {}
        self.inference_streams = 0  # streams that ran the model (tests and the bench read it)
        model.on("metrics_collected", self._relay_metrics)

    @property
    def model(self) -> str:
        return self._model.model

    @property
    def provider(self) -> str:
        return self._model.provider

    @property
    def wrapped(self) -> vad.VAD:
        return self._model

    def __getattr__(self, name: str) -> Any:
        # LiveKit reads the model's own settings (min_silence_duration, ...) off the VAD it holds.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._model, name)

    def _relay_metrics(self, metrics: Any) -> None:
        self.emit("metrics_collected", metrics)

    def stream(self) -> vad.VADStream:
        self.inference_streams += 1
        s = _PublishingStream(self, self._model.stream())
        self._streams.append(s)
        return s

    def follower(self, *, inference_events: bool = False) -> FollowerVAD:
        """A VAD that follows this call's session stream; `inference_events`: its streams also
        yield each window's INFERENCE_DONE (the silence so far: providers/turn_stt.py decodes
        early on it), not only the speech boundaries."""
        return FollowerVAD(self, inference_events=inference_events)

    @property
    def session_stream_open(self) -> bool:
        return bool(self._streams)

    def _publish(self, source: _PublishingStream, ev: vad.VADEvent) -> None:
        # During a handoff the old activity's stream and the new one overlap: only the newest
        # speaks for the call, or a follower would hear each utterance twice.
        if not self._streams or self._streams[-1] is not source:
            return
        boundary = ev.type in _BOUNDARIES
        for q, every_window in self._listeners.items():
            if boundary or (every_window and ev.type == vad.VADEventType.INFERENCE_DONE):
                q.put_nowait(ev)

    def _closed(self, s: _PublishingStream) -> None:
        with contextlib.suppress(ValueError):
            self._streams.remove(s)


class _PublishingStream(vad.VADStream):
    """The model's stream, unchanged for the session; its boundaries go to the listeners."""

    def __init__(self, owner: CallVAD, inner: vad.VADStream) -> None:
        self._owner = owner
        self._inner = inner
        super().__init__(owner)

    async def _main_task(self) -> None:
        feeder = asyncio.create_task(_feed(self, self._inner), name="call_vad.forward")
        try:
            async for ev in self._inner:
                self._owner._publish(self, ev)
                self._event_ch.send_nowait(ev)
            await feeder
        finally:
            self._owner._closed(self)
            await utils.aio.cancel_and_wait(feeder)
            await self._inner.aclose()


class FollowerVAD(vad.VAD):
    """A VAD whose streams hear the call's session stream instead of running the model."""

    def __init__(self, call_vad: CallVAD, *, inference_events: bool = False) -> None:
        super().__init__(capabilities=call_vad.capabilities)
        self._call = call_vad
        self._inference_events = inference_events
        self.own_streams = 0  # streams that found no session stream and ran the model

    @property
    def model(self) -> str:
        return self._call.model

    @property
    def provider(self) -> str:
        return self._call.provider

    def stream(self) -> vad.VADStream:
        return _FollowerStream(self)


class _FollowerStream(vad.VADStream):
    def __init__(self, owner: FollowerVAD) -> None:
        self._owner = owner
        self._events: asyncio.Queue[vad.VADEvent] = asyncio.Queue()
        owner._call._listeners[self._events] = owner._inference_events
        super().__init__(owner)

    async def _main_task(self) -> None:
        call = self._owner._call
        held: list[rtc.AudioFrame] = []
        held_s = 0.0
        relay = asyncio.create_task(self._relay(), name="call_vad.follow")
        try:
            async for item in self._input_ch:
                if isinstance(item, self._FlushSentinel) or call.session_stream_open:
                    held.clear()
                    if call.session_stream_open:
                        held_s = -1.0  # following: the session stream was there
                    continue
                if held_s < 0:
                    continue  # it was there and is gone (the call is ending)
                held.append(item)
                held_s += item.duration
                if held_s >= ALONE_AFTER_S:
                    relay.cancel()
                    await self._run_alone(held)
                    return
        finally:
            call._listeners.pop(self._events, None)
            await utils.aio.cancel_and_wait(relay)

    async def _relay(self) -> None:
        while True:
            self._event_ch.send_nowait(await self._events.get())

    async def _run_alone(self, held: list[rtc.AudioFrame]) -> None:
        """No session stream: run the model on this stream's own frames, from those held."""
        self._owner._call._listeners.pop(self._events, None)
        self._owner.own_streams += 1
        inner = self._owner._call.wrapped.stream()

        feeder = asyncio.create_task(_feed(self, inner, held), name="call_vad.alone")
        try:
            async for ev in inner:
                self._event_ch.send_nowait(ev)
            await feeder
        finally:
            await utils.aio.cancel_and_wait(feeder)
            await inner.aclose()


async def _feed(
    outer: vad.VADStream, inner: vad.VADStream, held: Sequence[rtc.AudioFrame] = ()
) -> None:
    """`outer`'s input (after the frames `held` back) into the model's `inner` stream."""
    for frame in held:
        inner.push_frame(frame)
    async for item in outer._input_ch:
        if isinstance(item, vad.VADStream._FlushSentinel):
            inner.flush()
        else:
            inner.push_frame(item)
    inner.end_input()


def call_vad(model: vad.VAD | None) -> CallVAD | None:
    """The call's shared VAD around the process's model (None stays None)."""
    if model is None or isinstance(model, CallVAD):
        return model
    return CallVAD(model)
