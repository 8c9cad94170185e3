"""Local text-to-speech: Hibari (`hibari-tts`), voice "heart", 24 kHz mono.

Only "heart" ships inside the package; Hibari downloads every other voice from a model hub on
first use, which callcrew never does at run time. A voice file someone has already placed in
Hibari's cache (`HIBARI_HOME`) is used; anything else is a clear error.

Synthesis runs one sentence at a time in a worker thread, and each sentence's audio goes to
the output emitter as soon as it is ready, so the first sentence plays while the next is being
made. Cancelling the stream (the caller barged in) stops after the sentence in progress. The
model loads once per process per voice and is shared by every session.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from typing import Any

import numpy as np
from livekit.agents import tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from callcrew.providers.local_stt import LocalModelError

SAMPLE_RATE = 24_000
BUNDLED_VOICE = "heart"

_voices: dict[str, Any] = {}
_voices_lock = threading.Lock()
# One synthesis at a time per process: the G2P keeps caches, and a sentence takes ~10-50 ms.
_synth_lock = threading.Lock()
_ids = itertools.count(1)


def check_voice(voice: str) -> str:
    """The ONNX file for `voice`, never downloading; a clear error for anything unavailable."""
    try:
        from hibari.voices import VOICES, voice_path
    except ImportError:
        raise LocalModelError(
            "the local TTS needs the 'local' extra: pip install 'callcrew[local]' (hibari-tts)"
        ) from None
    if voice not in VOICES:
        raise LocalModelError(
            f"TTS=local/{voice}: unknown Hibari voice; only {BUNDLED_VOICE!r} ships in the package"
        )
    try:
        return str(voice_path(voice, download_missing=False))
    except FileNotFoundError:
        raise LocalModelError(
            f"TTS=local/{voice}: only the {BUNDLED_VOICE!r} voice ships offline inside "
            f"hibari-tts; {voice!r} would be downloaded from a model hub at run time, which "
            f"callcrew does not do. Use TTS=local/{BUNDLED_VOICE} (or place the voice file in "
            "Hibari's cache, HIBARI_HOME, yourself)."
        ) from None


def load_hibari(voice: str = BUNDLED_VOICE) -> Any:
    """The shared `hibari.Hibari` for this voice (loaded on first use)."""
    with _voices_lock:
        model = _voices.get(voice)
        if model is None:
            path = check_voice(voice)
            from hibari import Hibari

            model = Hibari(voice=voice, model=path, threads=1)
            _voices[voice] = model
        return model


def sentences(model: Any, text: str) -> list[str]:
    """Phoneme strings, one per sentence (blocking: G2P)."""
    with _synth_lock:
        return list(model.phonemize(text))


# Hibari pads every sentence with ~0.3 s of silence before and ~0.5 s after. Before the first
# word that is pure added latency, and between sentences it drags; keep a natural gap.
LEAD_SILENCE_S = 0.03
TAIL_SILENCE_S = 0.25
SILENCE_LEVEL = 0.01


def trim_silence(audio: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    loud = np.nonzero(np.abs(audio) > SILENCE_LEVEL)[0]
    if len(loud) == 0:
        return audio[:0]
    start = max(0, int(loud[0]) - int(LEAD_SILENCE_S * SAMPLE_RATE))
    end = min(len(audio), int(loud[-1]) + 1 + int(TAIL_SILENCE_S * SAMPLE_RATE))
    return audio[start:end]


def synth(model: Any, phonemes: str, seed: int) -> bytes:
    """One sentence -> 16-bit PCM bytes at 24 kHz, padding trimmed (blocking)."""
    with _synth_lock:
        audio = model.from_ids(model.ids(phonemes), 1.0, np.random.default_rng(seed))
    audio = trim_silence(np.asarray(audio, dtype=np.float32))
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    return bytes(pcm.tobytes())


class LocalHibariTTS(tts.TTS[Any]):
    def __init__(self, *, voice: str = BUNDLED_VOICE) -> None:
        check_voice(voice)  # fail at build time, not on the first sentence of a call
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self._voice = voice

    @property
    def voice(self) -> str:
        return self._voice

    @property
    def model(self) -> str:
        return f"hibari/{self._voice}"

    @property
    def provider(self) -> str:
        return "local"

    def load(self) -> None:
        """Load the shared model now (blocking)."""
        load_hibari(self._voice)

    def prewarm(self) -> None:
        # Called on the event loop: load in the background instead of stalling it.
        threading.Thread(target=self.load, name="hibari-load", daemon=True).start()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> HibariStream:
        return HibariStream(tts=self, input_text=text, conn_options=conn_options)


class HibariStream(tts.ChunkedStream):
    def __init__(self, *, tts: LocalHibariTTS, input_text: str, conn_options: APIConnectOptions):
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._voice = tts.voice

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        request_id = f"hibari-{next(_ids)}"
        output_emitter.initialize(
            request_id=request_id,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=100,
        )
        model = await asyncio.to_thread(load_hibari, self._voice)
        chunks = await asyncio.to_thread(sentences, model, self.input_text)
        pushed = False
        for i, phonemes in enumerate(chunks):
            # A cancelled stream stops here: the sentence in the thread finishes, unused.
            pcm = await asyncio.to_thread(synth, model, phonemes, i)
            if pcm:
                output_emitter.push(pcm)
                pushed = True
        if not pushed and self.input_text.strip():
            # Nothing pronounceable (only symbols or a script Hibari cannot read): a short
            # silence keeps the turn going instead of failing the whole reply.
            output_emitter.push(b"\x00\x00" * (SAMPLE_RATE // 20))
        output_emitter.flush()
