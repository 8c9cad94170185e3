"""The session's TTS when a phrase cache is configured: the chain, except that a speech
segment that is exactly one of the call's instant phrases (the late-token filler) plays from
the phrase cache instead of going to a provider.

The filler rides inside the LLM's reply (providers/recovery.py) as its own segment, so it
reaches the TTS like any reply text. Spoken through the chain it waits for a provider's first
byte, and when that provider hangs the caller hears nothing until its attempt times out; from
the cache its first frame is out as fast as the disk reads it, whatever the TTS is doing.

A segment is only held back while its text so far is the start of an instant phrase (a word
or two at most): any other reply goes to the chain as it arrives.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import wave
from typing import Any

from livekit.agents import tts, utils
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    USERDATA_TIMED_TRANSCRIPT,
    APIConnectOptions,
)

from callcrew.providers.phrases import PhraseCache, PhraseStats, read_frames

logger = logging.getLogger("callcrew.phrases")


def _norm(text: str) -> str:
    return " ".join(text.split())


class PhraseTTS(tts.TTS[Any]):
    """`inner` is the chain (an adapter or the only plugin); `instant` and `stats` are bound
    per call (`ProviderRecovery.attach`)."""

    def __init__(self, inner: tts.TTS[Any], cache: PhraseCache) -> None:
        super().__init__(
            # The framework segments text for a non-streaming TTS; here the wrapper does it
            # (in `stream`), so that it sees each segment's text first.
            capabilities=tts.TTSCapabilities(
                streaming=True,
                # Word timings pass through from the chain (LiveKit's StreamAdapter, which the
                # wrapper puts around a batch TTS, makes them too).
                aligned_transcript=(
                    inner.capabilities.aligned_transcript or not inner.capabilities.streaming
                ),
            ),
            sample_rate=inner.sample_rate,
            num_channels=inner.num_channels,
        )
        self.inner = inner
        self.cache = cache
        self.instant: dict[str, str] = {}  # normalized text -> the phrase as cached
        self.stats: PhraseStats | None = None
        self.played_at: float | None = None  # wall clock of the last phrase played from disk
        inner.on("metrics_collected", self._forward_metrics)

    class Markup(tts.TTS.Markup):
        def _provider_key(self) -> str:
            assert isinstance(self._tts, PhraseTTS)
            return self._tts.inner.markup._provider_key()

    def _forward_metrics(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    def _set_expressive(self, enabled: bool) -> None:
        super()._set_expressive(enabled)
        self.inner._set_expressive(enabled)

    @property
    def chain_tts(self) -> tts.TTS[Any]:
        """What the phrase cache keys on and records with (`phrases.primary`)."""
        return self.inner

    def set_instant(self, texts: list[str]) -> None:
        self.instant = {_norm(t): t for t in texts if _norm(t)}

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def provider(self) -> str:
        return self.inner.provider

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return self.inner.synthesize(text, conn_options=conn_options)

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.SynthesizeStream:
        return _PhraseStream(self, conn_options=conn_options)

    def _open_inner(self, conn_options: APIConnectOptions) -> tuple[tts.SynthesizeStream, Any]:
        """A stream on the chain, segmented as the framework would for a batch TTS."""
        if self.inner.capabilities.streaming:
            return self.inner.stream(conn_options=conn_options), None
        adapter = tts.StreamAdapter(tts=self.inner)
        return adapter.stream(conn_options=conn_options), adapter

    def is_prefix(self, text: str) -> bool:
        text = _norm(text)
        return any(p.startswith(text) for p in self.instant)

    def prewarm(self) -> None:
        self.inner.prewarm()

    async def aclose(self) -> None:
        self.inner.off("metrics_collected", self._forward_metrics)


class _PhraseStream(tts.SynthesizeStream):
    def __init__(self, owner: PhraseTTS, *, conn_options: APIConnectOptions) -> None:
        # The chain has its own attempts and timeouts: never retry the whole chain here.
        super().__init__(tts=owner, conn_options=dataclasses.replace(conn_options, max_retry=0))
        self._owner = owner
        self._inner_options = conn_options

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:  # the chain's members report their own metrics
            pass

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        owner = self._owner
        held: list[str] = []
        ended = True
        if owner.instant:
            async for data in self._input_ch:
                if isinstance(data, self._FlushSentinel):
                    continue
                held.append(data)
                if not owner.is_prefix("".join(held)):
                    ended = False
                    break
        else:
            ended = False
        text = _norm("".join(held))
        if ended and text in owner.instant and await self._play_cached(text, output_emitter):
            return
        await self._through_chain(held, ended, output_emitter)

    async def _play_cached(self, text: str, output_emitter: tts.AudioEmitter) -> bool:
        owner = self._owner
        path = owner.cache.path_for(owner, owner.instant[text])
        try:
            frames = await asyncio.to_thread(read_frames, path) if path.exists() else []
        except (OSError, wave.Error, EOFError) as exc:
            logger.warning("phrase cache file %s unreadable (%s); using the TTS", path.name, exc)
            frames = []
        if not frames:
            if owner.stats is not None:
                owner.stats.misses += 1
            return False
        output_emitter.initialize(
            request_id=f"phrase-{utils.shortuuid()}",
            sample_rate=frames[0].sample_rate,
            num_channels=frames[0].num_channels,
            mime_type="audio/pcm",
        )
        self._mark_started()
        for frame in frames:
            output_emitter.push_frame(frame)
        output_emitter.flush()
        owner.played_at = time.time()
        if owner.stats is not None:
            owner.stats.hits += 1
            owner.stats.spoken.append(text)
        return True

    async def _through_chain(
        self, held: list[str], ended: bool, output_emitter: tts.AudioEmitter
    ) -> None:
        owner = self._owner
        stream, adapter = owner._open_inner(self._inner_options)
        output_emitter.initialize(
            request_id=f"chain-{utils.shortuuid()}",
            sample_rate=owner.sample_rate,
            num_channels=owner.num_channels,
            mime_type="audio/pcm",
        )

        async def _forward_input() -> None:
            for text in held:
                stream.push_text(text)
            if not ended:
                async for data in self._input_ch:
                    if isinstance(data, self._FlushSentinel):
                        stream.flush()
                    else:
                        stream.push_text(data)
            stream.end_input()

        forward = asyncio.create_task(_forward_input())
        try:
            async for ev in stream:
                self._mark_started()
                output_emitter.push_frame(ev.frame)
                if timed := ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT):
                    output_emitter.push_timed_transcript(timed)
            output_emitter.flush()
        finally:
            await utils.aio.cancel_and_wait(forward)
            await stream.aclose()
            if adapter is not None:
                await adapter.aclose()
