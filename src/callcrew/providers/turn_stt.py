"""A batch STT heard a turn at a time: each utterance transcribed after the turn's earlier ones.

LiveKit's `StreamAdapter` sends a batch STT (the local stack's Whisper) one VAD utterance at a
time, each on its own. With a short VAD silence a caller who pauses mid-line ("It's Nguyen,
... N G, ... U Y E N.") is cut into fragments, and Whisper mishears a fragment heard alone
(57 % WER on the corpus's dictation lines cut at their pauses, 26 % for the whole lines), so
the local stack had to wait out 0.55 s of silence before every answer (0.45 s now).

`TurnContextSTT` cuts the same utterances on the call's VAD (a `CallVAD.follower()`: no
inference of its own) but sends Whisper the turn's audio so far, the earlier utterances with a
short gap between them, and the words already sent as the decoder's forced start
(`LocalWhisperSTT.recognize_in_turn`); only the words that follow come back, heard in context
(32 % on the same lines). A turn ends when the conversation moves on (LiveKit pushes each new
chat item, the caller's committed turn or the agent's reply, to an STT that takes chat
context) or after `NEW_TURN_AFTER_S` without speech. Usage still counts each second of the
caller's audio once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from callcrew.providers.local_stt import LocalWhisperSTT, to_mono_16k
from callcrew.providers.whisper_decode import SAMPLE_RATE, fits

if TYPE_CHECKING:
    from livekit.agents.voice.events import ConversationItemAddedEvent

GAP_S = 0.3  # silence between a turn's utterances in the audio Whisper hears
# Utterances further apart than this are separate turns even if no chat item came between
# (LiveKit's longest endpointing wait is 2 s in every stack's defaults).
NEW_TURN_AFTER_S = 3.0
# Silence after which the utterance so far is decoded, before the VAD's own silence (0.45 s on
# the local stack) ends it, so Whisper's ~0.2-0.3 s overlaps the rest of the wait instead of
# following it. A caller who goes on drops the decode (at most commas), and one runs at a
# time. 0.2 s was enough while the VAD waited 0.55 s; at 0.45 s a decode started at 0.1 s
# still ended after the VAD on long lines (docs/benchmarks.md, round 5). The early words also
# go out as a preflight transcript, so LiveKit's preemptive generation starts the reply on them.
EARLY_AFTER_S = 0.05


@dataclass
class TurnAudio:
    """The caller's current turn: its utterances' audio and the words sent for them."""

    pieces: list[np.ndarray[Any, np.dtype[np.float32]]] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    last_end: float = 0.0  # time.monotonic() at the last utterance's end

    def with_piece(self, audio: np.ndarray[Any, np.dtype[np.float32]], now: float) -> TurnAudio:
        """This turn with one more utterance (a new turn after a long silence), trimmed to
        what a fitted window holds: the oldest utterances (and their words) go first."""
        fresh = bool(self.pieces) and now - self.last_end > NEW_TURN_AFTER_S
        turn = TurnAudio([] if fresh else [*self.pieces], [] if fresh else [*self.said], now)
        turn.pieces.append(audio)
        while len(turn.pieces) > 1 and not fits(turn.seconds()):
            turn.pieces.pop(0)
            if turn.said:
                turn.said.pop(0)
        return turn

    def seconds(self) -> float:
        samples = sum(len(p) for p in self.pieces) + GAP_S * SAMPLE_RATE * len(self.pieces)
        return samples / SAMPLE_RATE

    def audio(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
        return np.concatenate([part for piece in self.pieces for part in (piece, gap)])

    def earlier_words(self) -> str:
        """What was sent for the utterances before the newest one."""
        return " ".join(w for w in self.said[: len(self.pieces) - 1] if w)


class TurnContextSTT(stt.STT[Any]):
    """`LocalWhisperSTT` as a streaming STT cut by the call's VAD, a turn's words in context."""

    def __init__(self, *, whisper: LocalWhisperSTT, vad: vad.VAD) -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=True, interim_results=False, offline_recognize=True, chat_context=True
            )
        )
        self._whisper = whisper
        self._vad = vad
        self._streams: set[_TurnStream] = set()
        whisper.on("metrics_collected", self._relay_metrics)

    @property
    def model(self) -> str:
        return self._whisper.model

    @property
    def provider(self) -> str:
        return self._whisper.provider

    @property
    def wrapped_stt(self) -> LocalWhisperSTT:
        return self._whisper

    def _relay_metrics(self, metrics: Any) -> None:
        self.emit("metrics_collected", metrics)

    def _push_conversation_item(self, ev: ConversationItemAddedEvent) -> None:
        # The conversation moved on (the caller's turn was committed, or the agent spoke):
        # what the caller says next starts a new turn.
        for s in self._streams:
            s.new_turn()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return await self._whisper.recognize(buffer, language=language, conn_options=conn_options)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> stt.RecognizeStream:
        s = _TurnStream(self, conn_options)
        self._streams.add(s)
        return s

    def prewarm(self) -> None:
        self._whisper.prewarm()

    async def aclose(self) -> None:
        self._whisper.off("metrics_collected", self._relay_metrics)


class _TurnStream(stt.RecognizeStream):
    def __init__(self, owner: TurnContextSTT, conn_options: APIConnectOptions) -> None:
        # Whisper's own recognize has no retries to add; a failure surfaces to the fallback.
        super().__init__(stt=owner, conn_options=APIConnectOptions(max_retry=0))
        self._owner = owner
        self.turn = TurnAudio()
        self._epoch = 0  # bumped when the turn ends: an early decode of the old one is stale
        self._speech: list[rtc.AudioFrame] | None = None  # the utterance so far (in speech)
        self._early: _Early | None = None
        self._last_early: asyncio.Task[stt.SpeechEvent] | None = None

    def new_turn(self) -> None:
        self.turn = TurnAudio()
        self._epoch += 1

    async def _run(self) -> None:
        vad_stream = self._owner._vad.stream()

        async def forward() -> None:
            async for item in self._input_ch:
                if not isinstance(item, self._FlushSentinel):
                    vad_stream.push_frame(item)
            vad_stream.end_input()

        async def recognize() -> None:
            async for ev in vad_stream:
                if ev.type == vad.VADEventType.START_OF_SPEECH:
                    self._speech, self._early = list(ev.frames), None
                    self._event_ch.send_nowait(stt.SpeechEvent(stt.SpeechEventType.START_OF_SPEECH))
                elif ev.type == vad.VADEventType.INFERENCE_DONE:
                    self._window(ev)
                elif ev.type == vad.VADEventType.END_OF_SPEECH:
                    await self._utterance(ev)

        tasks = [
            asyncio.create_task(forward(), name="turn_stt.forward"),
            asyncio.create_task(recognize(), name="turn_stt.recognize"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            self._owner._streams.discard(self)
            await utils.aio.cancel_and_wait(*tasks)
            await vad_stream.aclose()

    def _window(self, ev: vad.VADEvent) -> None:
        """One VAD window inside an utterance: after EARLY_AFTER_S of silence, start decoding
        the utterance so far, so its words are ready when the VAD's silence runs out; any
        speech after that makes the early decode stale."""
        if self._speech is None:
            return
        self._speech.extend(ev.frames)
        if ev.raw_accumulated_silence <= 0:
            self._early = None  # the caller went on
        elif (
            self._early is None
            and ev.raw_accumulated_silence >= EARLY_AFTER_S
            and (self._last_early is None or self._last_early.done())  # one at a time
        ):
            audio = to_mono_16k(list(self._speech))
            if len(audio):
                early = self._early = self._decode(audio)
                self._last_early = early.task
                early.task.add_done_callback(lambda _t: self._preflight(early))

    def _preflight(self, early: _Early) -> None:
        """The early decode's words as a preflight transcript, if the caller is still silent:
        LiveKit's preemptive generation starts the reply on them, and keeps it when the final
        transcript (the same words, at the VAD's end of the utterance) commits the turn."""
        task = early.task
        if early is not self._early or early.epoch != self._epoch or task.cancelled():
            return
        if task.exception() is not None:
            return
        result = task.result()
        if not result.alternatives or not result.alternatives[0].text:
            return
        with contextlib.suppress(utils.aio.ChanClosed):
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.PREFLIGHT_TRANSCRIPT,
                    request_id=result.request_id,
                    alternatives=[result.alternatives[0]],
                )
            )

    def _decode(self, audio: np.ndarray[Any, np.dtype[np.float32]]) -> _Early:
        turn = self.turn.with_piece(audio, time.monotonic())
        said = turn.earlier_words()
        task = asyncio.create_task(
            self._owner._whisper.recognize_in_turn(turn.audio(), said=said),
            name="turn_stt.decode",
        )
        # an early decode the caller talked over is never awaited: retrieve its outcome
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return _Early(task, self._epoch, time.perf_counter())

    async def _utterance(self, ev: vad.VADEvent) -> None:
        speech_end_time = time.time() - ev.silence_duration - ev.inference_duration
        self._event_ch.send_nowait(
            stt.SpeechEvent(stt.SpeechEventType.END_OF_SPEECH, speech_end_time=speech_end_time)
        )
        early, self._early, self._speech = self._early, None, None
        audio = to_mono_16k(list(ev.frames))
        if len(audio) == 0:
            return
        if early is None or early.epoch != self._epoch:
            early = self._decode(audio)
        result = await early.task
        text = result.alternatives[0].text if result.alternatives else ""
        # (a chat item while Whisper ran started a new turn: these words still count, and the
        # new turn starts with them)
        self.turn = self.turn.with_piece(audio, time.monotonic())
        self.turn.said.append(text)
        self._owner._whisper.report_usage(
            result.request_id, len(audio) / SAMPLE_RATE, time.perf_counter() - early.started
        )
        if not text:
            return
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                request_id=result.request_id,
                alternatives=[result.alternatives[0]],
                speech_end_time=speech_end_time,
            )
        )


@dataclass
class _Early:
    """A decode of the utterance so far, started before the VAD called its end."""

    task: asyncio.Task[stt.SpeechEvent]
    epoch: int
    started: float


def cut_by_vad(engine: stt.STT[Any], follower: vad.VAD, *, turn_context: bool) -> stt.STT[Any]:
    """A batch STT made streaming on the call's VAD: Whisper a turn at a time (`turn_context`,
    `STT_TURN_CONTEXT`), any other batch STT (or Whisper without it) an utterance at a time
    through LiveKit's `StreamAdapter` (a cloud batch STT bills every second it is sent, so it
    is never sent a turn's audio twice)."""
    if turn_context and isinstance(engine, LocalWhisperSTT):
        return TurnContextSTT(whisper=engine, vad=follower)
    return stt.StreamAdapter(stt=engine, vad=follower)
