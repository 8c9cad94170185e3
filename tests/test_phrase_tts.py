"""The session's TTS with a phrase cache: an instant phrase (the filler) plays from disk, every
other segment goes to the chain as it arrives."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from livekit.agents import tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from callcrew.providers.phrase_tts import PhraseTTS
from callcrew.providers.phrases import PhraseCache, PhraseStats, tts_identity
from tests.test_phrases import ToneTTS

pytestmark = pytest.mark.unit

FILLER = "One moment, please."


class HangingTTS(ToneTTS):
    """A provider whose requests never answer (the chain's attempt timeout would end them)."""

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> Any:
        self.requests.append(text)
        return _Hang(tts=self, input_text=text, conn_options=conn_options)


class _Hang(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        await asyncio.Event().wait()


async def _speak(engine: PhraseTTS, pieces: list[str], limit: float = 5.0) -> int:
    """Push a segment the way LiveKit's tts_node does; the samples it produced."""
    samples = 0
    async with engine.stream() as stream:
        for piece in pieces:
            stream.push_text(piece)
        stream.end_input()

        async def _collect() -> None:
            nonlocal samples
            async for ev in stream:
                samples += ev.frame.samples_per_channel

        await asyncio.wait_for(_collect(), limit)
    return samples


def _wrapped(inner: tts.TTS[Any], tmp_path: Path) -> tuple[PhraseTTS, PhraseStats]:
    engine = PhraseTTS(inner, PhraseCache(tmp_path / "phrases"))
    engine.set_instant([FILLER])
    engine.stats = PhraseStats()
    return engine, engine.stats


async def test_the_filler_plays_from_the_cache_without_a_tts_request(tmp_path: Path) -> None:
    inner = ToneTTS()
    engine, stats = _wrapped(inner, tmp_path)
    await engine.cache.ensure(engine, FILLER)  # an earlier call recorded it
    inner.requests.clear()
    samples = await _speak(engine, ["One moment, ", "please. "])
    assert samples >= 16_000 // 100 * len(FILLER)  # the recording, whole
    assert inner.requests == []
    assert (stats.hits, stats.misses, stats.spoken) == (1, 0, [FILLER])


async def test_the_filler_plays_while_the_tts_hangs(tmp_path: Path) -> None:
    recorder = ToneTTS()  # the same voice, when it was up
    cache = PhraseCache(tmp_path / "phrases")
    await cache.ensure(recorder, FILLER)
    inner = HangingTTS()
    assert tts_identity(inner) == tts_identity(recorder)
    engine, stats = _wrapped(inner, tmp_path)
    assert await _speak(engine, [FILLER + " "]) > 0
    assert inner.requests == [] and stats.hits == 1


async def test_other_text_goes_to_the_tts_even_when_it_starts_like_the_filler(
    tmp_path: Path,
) -> None:
    inner = ToneTTS()
    engine, stats = _wrapped(inner, tmp_path)
    await engine.cache.ensure(engine, FILLER)
    inner.requests.clear()
    assert await _speak(engine, ["One ", "more ", "thing: ", "bring cash."]) > 0
    assert inner.requests == ["One more thing: bring cash."]
    assert await _speak(engine, ["Of course, ", "which day?"]) > 0
    assert inner.requests[-1] == "Of course, which day?"
    assert stats.hits == 0


async def test_an_uncached_filler_is_spoken_by_the_tts(tmp_path: Path) -> None:
    inner = ToneTTS()
    engine, stats = _wrapped(inner, tmp_path)
    assert await _speak(engine, [FILLER]) > 0
    assert inner.requests == [FILLER]
    assert (stats.hits, stats.misses) == (0, 1)


async def test_the_cache_keys_on_the_wrapped_chain(tmp_path: Path) -> None:
    inner = ToneTTS()
    engine, _ = _wrapped(inner, tmp_path)
    assert tts_identity(engine) == tts_identity(inner)
    assert engine.cache.path_for(engine, FILLER) == engine.cache.path_for(inner, FILLER)
