"""The phrase cache: fixed phrases (greeting, goodbye, "are you still there?") are synthesized
once per TTS model, voice and text, kept on disk as WAV, and played from there.

A cached phrase needs no TTS request: no TTS cost, and its first audio frame is out as fast as
the disk can read it instead of after a provider's time-to-first-byte.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the call state imports this module; commands without a worker skip LiveKit
    from livekit import rtc
    from livekit.agents import AgentSession, tts
    from livekit.agents.voice.speech_handle import SpeechHandle

logger = logging.getLogger("callcrew.phrases")

FRAME_MS = 20


@dataclass
class PhraseStats:
    hits: int = 0
    misses: int = 0
    spoken: list[str] = field(default_factory=list)  # texts played from the cache

    def as_dict(self) -> dict[str, Any]:
        return {"hits": self.hits, "misses": self.misses, "cached_texts": list(self.spoken)}


def primary(engine: tts.TTS[Any]) -> tts.TTS[Any]:
    """A fallback chain's own provider: phrases are recorded with it and keyed on it, so a
    fallback voice that spoke while it was down is never cached under its name."""
    from livekit.agents import tts

    # The session's PhraseTTS (providers/phrase_tts.py) wraps the chain: key on what it wraps.
    engine = getattr(engine, "chain_tts", engine)
    if isinstance(engine, tts.FallbackAdapter):
        return engine._tts_instances[0]
    return engine


def tts_identity(engine: tts.TTS[Any]) -> str:
    """Provider, model, voice and rate: a change of any of them is a different recording."""
    engine = primary(engine)
    voice = getattr(engine, "voice", None) or getattr(getattr(engine, "_opts", None), "voice", None)
    return f"{engine.provider}/{engine.model}/{voice or '-'}/{engine.sample_rate}"


class PhraseCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, engine: tts.TTS[Any], text: str) -> Path:
        digest = hashlib.sha256(f"{tts_identity(engine)}\n{text}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.wav"

    def cached(self, engine: tts.TTS[Any], text: str) -> bool:
        return self.path_for(engine, text).exists()

    async def ensure(self, engine: tts.TTS[Any], text: str) -> Path:
        """The phrase's WAV, synthesizing it once if it isn't on disk yet."""
        path = self.path_for(engine, text)
        if path.exists():
            return path
        frames = [ev.frame async for ev in primary(engine).synthesize(text)]
        if not frames:
            raise RuntimeError(f"the TTS returned no audio for {text!r}")
        from livekit import rtc

        merged = rtc.combine_audio_frames(frames)
        await asyncio.to_thread(_write_wav, path, merged)
        return path

    async def warm(self, engine: tts.TTS[Any], texts: list[str]) -> int:
        """Synthesize what is missing; returns how many phrases were new."""
        new = 0
        for text in dict.fromkeys(texts):
            if not self.cached(engine, text):
                await self.ensure(engine, text)
                new += 1
        return new


def _write_wav(path: Path, frame: rtc.AudioFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per writer: two calls may fill the same phrase at once; the last rename wins.
    tmp = path.with_suffix(f".{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(frame.num_channels)
        w.setsampwidth(2)
        w.setframerate(frame.sample_rate)
        w.writeframes(bytes(frame.data))
    tmp.replace(path)  # readers never see a half-written phrase


def read_frames(path: Path) -> list[rtc.AudioFrame]:
    from livekit import rtc

    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        data = w.readframes(w.getnframes())
    per_frame = rate * FRAME_MS // 1000
    step = per_frame * channels * 2
    return [
        rtc.AudioFrame(
            data=data[i : i + step],
            sample_rate=rate,
            num_channels=channels,
            samples_per_channel=len(data[i : i + step]) // (2 * channels),
        )
        for i in range(0, len(data), step)
    ]


async def _iterate(frames: list[rtc.AudioFrame]) -> AsyncIterator[rtc.AudioFrame]:
    for frame in frames:
        yield frame


async def say_phrase(
    session: AgentSession[Any],
    text: str,
    *,
    cache: PhraseCache | None,
    stats: PhraseStats | None = None,
    allow_interruptions: bool = True,
) -> SpeechHandle:
    """Say a fixed phrase from the cache when there is one (and a TTS to key it on);
    otherwise through the TTS as usual. A miss fills the cache for the next call."""
    engine = session.tts
    if cache is None or engine is None:
        return session.say(text, allow_interruptions=allow_interruptions)
    path = cache.path_for(engine, text)
    if path.exists():
        try:
            frames = await asyncio.to_thread(read_frames, path)
        except (OSError, wave.Error, EOFError) as exc:
            logger.warning("phrase cache file %s unreadable (%s); using the TTS", path.name, exc)
        else:
            if stats is not None:
                stats.hits += 1
                stats.spoken.append(text)
            return session.say(
                text, audio=_iterate(frames), allow_interruptions=allow_interruptions
            )
    if stats is not None:
        stats.misses += 1
    # Fill the cache in the background; this call speaks through the TTS as usual.
    task = asyncio.create_task(cache.ensure(engine, text))
    _PENDING.add(task)
    task.add_done_callback(_PENDING.discard)
    return session.say(text, allow_interruptions=allow_interruptions)


_PENDING: set[asyncio.Task[Path]] = set()
