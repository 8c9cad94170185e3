"""The phrase cache: synthesized once, played from disk, keyed on model, voice and text."""

from __future__ import annotations

import itertools
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from bench.plugin_fakes import RATE, NamedTTS
from livekit.agents import Agent, AgentSession, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from callcrew.providers.phrases import (
    PhraseCache,
    PhraseStats,
    read_frames,
    say_phrase,
    tts_identity,
)
from callcrew.simulate.replay import ReplayLLM, ReplayScript

pytestmark = pytest.mark.unit

_ids = itertools.count()


class ToneTTS(NamedTTS):
    """A provider stand-in: 10 ms of 440 Hz per character, counting every request."""

    def __init__(self, voice: str = "a") -> None:
        super().__init__("tone", "test")
        self.voice = voice
        self.requests: list[str] = []

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> Any:
        self.requests.append(text)
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=f"tone-{next(_ids)}", sample_rate=RATE, num_channels=1, mime_type="audio/pcm"
        )
        n = RATE // 100 * len(self.input_text)
        pcm = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / RATE))) for i in range(n)
        )
        output_emitter.push(pcm)
        output_emitter.flush()


async def test_a_phrase_is_synthesized_once_then_read_from_disk(tmp_path: Path) -> None:
    engine, cache = ToneTTS(), PhraseCache(tmp_path / "phrases")
    path = await cache.ensure(engine, "Hello there")
    assert path.exists() and engine.requests == ["Hello there"]
    assert await cache.ensure(engine, "Hello there") == path
    assert engine.requests == ["Hello there"]  # no second request
    frames = read_frames(path)
    assert all(f.sample_rate == RATE for f in frames)
    total = sum(f.samples_per_channel for f in frames)
    expected = RATE // 100 * len("Hello there")
    assert expected <= total < expected + RATE // 50  # the emitter pads its last frame
    assert frames[0].samples_per_channel == RATE // 50  # 20 ms frames


async def test_keys_change_with_voice_model_and_text(tmp_path: Path) -> None:
    cache = PhraseCache(tmp_path)
    a, b = ToneTTS("a"), ToneTTS("b")
    assert tts_identity(a) != tts_identity(b)
    assert cache.path_for(a, "Hi") != cache.path_for(b, "Hi")
    assert cache.path_for(a, "Hi") != cache.path_for(a, "Hi!")
    assert await cache.warm(a, ["Hi", "Bye", "Hi"]) == 2
    assert await cache.warm(a, ["Hi", "Bye"]) == 0
    assert a.requests == ["Hi", "Bye"]


async def test_say_phrase_hits_after_a_miss_and_falls_back_without_a_tts(tmp_path: Path) -> None:
    engine, cache, stats = ToneTTS(), PhraseCache(tmp_path), PhraseStats()
    session: AgentSession[Any] = AgentSession(llm=ReplayLLM(ReplayScript(turns={})), tts=engine)

    async with session:
        await session.start(Agent(instructions="test"))
        handle = await say_phrase(session, "Welcome!", cache=cache, stats=stats)
        await handle
        assert (stats.hits, stats.misses) == (0, 1)
        await cache.ensure(engine, "Welcome!")  # what the miss queued in the background
        handle = await say_phrase(session, "Welcome!", cache=cache, stats=stats)
        await handle
        assert (stats.hits, stats.misses) == (1, 1)
        assert stats.as_dict()["cached_texts"] == ["Welcome!"]
        said = [
            i.text_content
            for i in session.history.items
            if i.type == "message" and i.role == "assistant"
        ]
        assert said == ["Welcome!", "Welcome!"]  # the transcript is the same either way
    text_only: AgentSession[Any] = AgentSession(llm=ReplayLLM(ReplayScript(turns={})))
    async with text_only:
        await text_only.start(Agent(instructions="test"))
        await (await say_phrase(text_only, "Hi", cache=cache, stats=stats))
    assert (stats.hits, stats.misses) == (1, 1)  # no TTS: the cache is not involved


async def test_an_unreadable_cache_file_falls_back_to_the_tts(tmp_path: Path) -> None:
    engine, cache, stats = ToneTTS(), PhraseCache(tmp_path), PhraseStats()
    path = cache.path_for(engine, "Broken")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a wav file")
    session: AgentSession[Any] = AgentSession(llm=ReplayLLM(ReplayScript(turns={})), tts=engine)

    async with session:
        await session.start(Agent(instructions="test"))
        await (await say_phrase(session, "Broken", cache=cache, stats=stats))
    assert stats.hits == 0 and stats.misses == 1
