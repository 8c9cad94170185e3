"""Providers with fixed, known latencies, so a benchmark measures the pipeline and not a model.

- `FixedSTT` (non-streaming, wrapped by LiveKit's `StreamAdapter` with the session's VAD, as
  Whisper is): the final transcript comes `stt_ms` after the request; the request is made at the
  VAD's end-of-speech event, and the text is whatever the benchmark says the caller said.
- `FixedLLM`: first token `ttft_ms` after the request, then one word per 1/`tokens_per_s`.
- `FixedTTS` (non-streaming, wrapped by LiveKit's sentence `StreamAdapter`): first audio
  `ttfb_ms` after the request, then a tone (clearly audible) delivered in real time, 60 ms of
  audio per character.

Each records when it was asked and when it answered, on the wall clock (`time.time()`, the
clock LiveKit's metrics and the rehearsal's audio I/O use).
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import llm, stt, tts, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from bench.plugin_fakes import RATE, NamedSTT, NamedTTS, StreamingOnlySTT, start_pcm

_ids = itertools.count(1)


@dataclass(frozen=True)
class Latencies:
    stt_ms: float = 100.0  # X: end-of-speech request -> final transcript
    ttft_ms: float = 200.0  # Y: request -> first token
    tokens_per_s: float = 50.0  # then one word per 1/rate
    tts_ttfb_ms: float = 150.0  # Z: request -> first audio

    def llm_critical_s(self, words: int, requests: int = 1) -> float:
        """LLM time on the path to the first audio frame: every request's TTFT, plus streaming
        the (single-sentence) reply, which the sentence tokenizer releases to the TTS whole."""
        rate = self.tokens_per_s
        stream = (max(words, 1) - 1) / rate if rate else 0.0
        return requests * self.ttft_ms / 1000 + stream

    def as_dict(self) -> dict[str, float]:
        return {
            "stt_ms": self.stt_ms,
            "ttft_ms": self.ttft_ms,
            "tokens_per_s": self.tokens_per_s,
            "tts_ttfb_ms": self.tts_ttfb_ms,
        }


@dataclass
class Request:
    asked: float
    answered: float | None = None
    text: str = ""


# --- STT ---------------------------------------------------------------------------------------


class FixedSTT(NamedSTT):
    def __init__(self, latencies: Latencies, transcript: Callable[[float], str]) -> None:
        self._lat = latencies
        self._transcript = transcript
        self.requests: list[Request] = []
        super().__init__(
            "fixed",
            "bench",
            capabilities=stt.STTCapabilities(
                streaming=False, interim_results=False, offline_recognize=True
            ),
        )

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        req = Request(time.time())
        self.requests.append(req)
        await asyncio.sleep(self._lat.stt_ms / 1000)
        req.text = self._transcript(req.asked)
        req.answered = time.time()
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=f"bench-stt-{next(_ids)}",
            alternatives=[
                stt.SpeechData(language=LanguageCode("en"), text=req.text, confidence=1.0)
            ],
        )


class StreamingSTT(StreamingOnlySTT):
    """Deepgram-like streaming STT: it hears the audio itself (frame energy), sends interim
    transcripts every `interim_every_s` while the caller speaks, and a final `stt_ms` after
    its own endpointer has heard `endpoint_ms` of silence, whatever the session's VAD does.

    So on the cloud stacks the final can arrive before the VAD's end of speech (and
    preemptive generation has something to start on), as it will in production. A request
    here is one final: `asked` = the last voiced frame, `answered` = when the final was sent.

    `words_between(lo, hi)` (the bench knows when each word of a line was said): a final
    carries only the words said since the previous final, an interim the words said so far
    since it, as Deepgram's do; without it, each event carries the last piece said.
    """

    def __init__(
        self,
        latencies: Latencies,
        transcript: Callable[[float], str],
        *,
        words_between: Callable[[float, float], str] | None = None,
        endpoint_ms: float = 100.0,
        interim_every_s: float = 0.4,
        level: float = 60.0,
    ) -> None:
        self._lat = latencies
        self._transcript = transcript
        self._words_between = words_between
        self._heard_to = 0.0  # the audio time the last final covered
        self.endpoint_s = endpoint_ms / 1000
        self.interim_every_s = interim_every_s
        self.level = level
        self.requests: list[Request] = []
        self.interims = 0
        super().__init__("fixed-streaming", "bench", interim_results=True)

    def open_stream(self, conn_options: APIConnectOptions) -> stt.RecognizeStream:
        return _StreamingRecognize(self, conn_options)


class _StreamingRecognize(stt.RecognizeStream):
    def __init__(self, model: StreamingSTT, conn_options: APIConnectOptions) -> None:
        super().__init__(stt=model, conn_options=conn_options, sample_rate=RATE)
        self._model = model
        self._tasks: set[asyncio.Task[None]] = set()

    def _send(self, kind: stt.SpeechEventType, text: str) -> None:
        data = stt.SpeechData(language=LanguageCode("en"), text=text, confidence=1.0)
        self._event_ch.send_nowait(
            stt.SpeechEvent(type=kind, request_id=f"bench-sstt-{next(_ids)}", alternatives=[data])
        )

    def _text(self, upto: float, *, final: bool) -> str:
        m = self._model
        if m._words_between is None:
            return m._transcript(upto)
        # a word is heard once its audio is in (a frame of slack for its last samples)
        text = m._words_between(m._heard_to, upto + 0.03)
        if final:
            m._heard_to = upto + 0.03
        return text

    async def _final(self, req: Request) -> None:
        text = self._text(req.asked, final=True)  # what the endpointer had heard
        await asyncio.sleep(self._model._lat.stt_ms / 1000)
        req.text = text
        req.answered = time.time()
        self._model.requests.append(req)
        if text:  # Deepgram sends empty finals too; LiveKit drops them
            self._send(stt.SpeechEventType.FINAL_TRANSCRIPT, req.text)

    async def _run(self) -> None:
        m = self._model
        speaking = False
        last_voiced = last_interim = 0.0
        try:
            async for item in self._input_ch:
                if not isinstance(item, rtc.AudioFrame):
                    continue
                now = time.time()
                pcm = np.frombuffer(item.data, np.int16).astype(np.float32)
                voiced = bool(len(pcm)) and float(np.sqrt(np.mean(pcm**2))) > m.level
                if voiced:
                    last_voiced = now
                    if not speaking:
                        speaking, last_interim = True, now
                    elif now - last_interim >= m.interim_every_s:
                        last_interim = now
                        m.interims += 1
                        interim = self._text(now, final=False)
                        if interim:
                            self._send(stt.SpeechEventType.INTERIM_TRANSCRIPT, interim)
                elif speaking and now - last_voiced >= m.endpoint_s:
                    speaking = False
                    task = asyncio.create_task(self._final(Request(last_voiced)))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            for task in list(self._tasks):
                task.cancel()


# --- LLM ---------------------------------------------------------------------------------------


class FixedLLM(llm.LLM[Any]):
    """Always answers `reply` (no tools)."""

    def __init__(self, latencies: Latencies, reply: str) -> None:
        self._lat = latencies
        self.reply = reply
        self.requests: list[Request] = []
        super().__init__()

    @property
    def model(self) -> str:
        return "fixed"

    @property
    def provider(self) -> str:
        return "bench"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        req = Request(time.time(), text=self.reply)
        self.requests.append(req)
        return _FixedStream(self, req, chat_ctx=chat_ctx, tools=tools or [], conn=conn_options)


class _FixedStream(llm.LLMStream):
    def __init__(
        self,
        model: FixedLLM,
        req: Request,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn: APIConnectOptions,
    ) -> None:
        super().__init__(model, chat_ctx=chat_ctx, tools=tools, conn_options=conn)
        self._model = model
        self._req = req

    async def _run(self) -> None:
        lat = self._model._lat
        rid = f"bench-llm-{next(_ids)}"
        await asyncio.sleep(lat.ttft_ms / 1000)
        self._req.answered = time.time()
        words = self._req.text.split(" ")
        for i, word in enumerate(words):
            if i and lat.tokens_per_s:
                await asyncio.sleep(1 / lat.tokens_per_s)
            text = word if i == len(words) - 1 else word + " "
            self._event_ch.send_nowait(
                llm.ChatChunk(id=rid, delta=llm.ChoiceDelta(role="assistant", content=text))
            )
        n = len(words)
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id=rid,
                usage=llm.CompletionUsage(
                    completion_tokens=n, prompt_tokens=100, total_tokens=100 + n
                ),
            )
        )


# --- TTS ---------------------------------------------------------------------------------------

_CHUNK_S = 0.1
_tone = (3000 * np.sin(2 * math.pi * 220 * np.arange(int(RATE * _CHUNK_S)) / RATE)).astype(np.int16)
TONE_CHUNK = _tone.tobytes()
SECONDS_PER_CHAR = 0.06


class FixedTTS(NamedTTS):
    def __init__(self, latencies: Latencies, *, voice: str = "tone", realtime: bool = True) -> None:
        self._lat = latencies
        self._voice = voice
        self.realtime = realtime  # False: all audio at once (to fill the phrase cache fast)
        self.requests: list[Request] = []
        super().__init__("fixed-tone", "bench")

    @property
    def voice(self) -> str:
        return self._voice

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    def __init__(self, *, tts: FixedTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._fixed = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        req = Request(time.time(), text=self.input_text)
        self._fixed.requests.append(req)
        start_pcm(output_emitter, f"bench-tts-{next(_ids)}")
        await asyncio.sleep(self._fixed._lat.tts_ttfb_ms / 1000)
        req.answered = time.time()
        chunks = max(1, round(len(self.input_text) * SECONDS_PER_CHAR / _CHUNK_S))
        start = time.time()
        for i in range(chunks):
            # real time: a streaming provider sends audio about as fast as it is played
            delay = start + i * _CHUNK_S - time.time()
            if delay > 0 and self._fixed.realtime:
                await asyncio.sleep(delay)
            output_emitter.push(TONE_CHUNK)
        output_emitter.flush()


@dataclass
class Providers:
    stt: FixedSTT
    llm: llm.LLM[Any]
    tts: FixedTTS
    extra: dict[str, Any] = field(default_factory=dict)
