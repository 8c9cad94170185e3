"""Whisper decoding for a caller's line: an encoder window fitted to the audio, and the turn's
earlier words as the decoder's forced prefix.

faster-whisper always runs Whisper's encoder over a 30 s window, however short the audio: on
this project's 2-core box that fixed cost is ~0.45-0.6 s, so "Yes." took as long to transcribe
as a 4 s sentence. CTranslate2's encoder accepts a shorter window; Whisper then needs enough
silence after the speech to know where the speech ends, or it loops ("My name is Daniel.
My name is Daniel. ..."). Measured on the turn-taking corpus's 70 lines (docs/benchmarks.md,
issue 15 round 4): 1 s of padding 168 % WER, 5 s 31 %, 10 s 27 % against the full window's
27 %, at 0.27 s instead of 0.66 s p50. A decode that still looks like a loop (faster-whisper's
own compression-ratio test) is redone on the full window.

A caller who pauses mid-line ("It's Nguyen, ... N G, ... U Y E N.") gives a short-silence VAD
several fragments, and Whisper mishears fragments heard alone (57 % WER on the corpus's
dictation lines cut at 0.3 s pauses, 26 % for the whole lines). `decode(..., prefix=...)`
decodes the turn's audio so far with the words already sent as the decoder's forced start, so
only the continuation comes back, heard in context (32 %).
"""

from __future__ import annotations

import math
import threading
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
FRAMES_PER_S = 100  # Whisper's mel frames
FULL_WINDOW_S = 30.0
PAD_S = 10.0  # silence after the speech in a fitted window (see above)
# Silence before it: on a fitted window Whisper can drop a line's last words when the audio
# starts on the first word ("Wednesday morning if you can." -> "Wednesday morning if"); 0.1 s
# was enough on the lines tried, a VAD utterance usually brings its own 0.5 s pre-roll.
LEAD_S = 0.2
# A loop, by faster-whisper's own measure (its `compression_ratio_threshold`).
MAX_COMPRESSION_RATIO = 2.4
# Below this RMS (about -60 dBFS) a buffer is treated as silence: Whisper invents text
# ("Thank you.") for silence, and the VAD should not send us any, but a tail can slip through.
SILENCE_RMS = 0.001

_tokenizers: dict[int, Any] = {}
_tokenizers_lock = threading.Lock()


@dataclass(frozen=True)
class Transcript:
    text: str
    confidence: float
    duration: float


def fits(duration_s: float) -> bool:
    """Whether audio this long gets a fitted window (else the full 30 s one)."""
    return LEAD_S + duration_s + PAD_S <= FULL_WINDOW_S


def window_frames(audio_frames: int, pad_s: float = PAD_S) -> int:
    """The encoder window for `audio_frames` mel frames: the speech, `pad_s` of silence,
    rounded up to whole seconds (few distinct shapes), never over the full window."""
    full = int(FULL_WINDOW_S * FRAMES_PER_S)
    wanted = audio_frames + int(pad_s * FRAMES_PER_S)
    return min(full, math.ceil(wanted / FRAMES_PER_S) * FRAMES_PER_S)


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def decode(
    model: Any, audio: np.ndarray[Any, np.dtype[np.float32]], beam_size: int, prefix: str = ""
) -> Transcript:
    """Blocking: Whisper on 16 kHz mono float32 audio (call it in a worker thread).

    `prefix`: the words of this audio already transcribed (the turn so far); the result is
    only what follows them. Without a fitted window (audio over ~20 s) the prefix is ignored
    and the whole audio is transcribed."""
    duration = len(audio) / SAMPLE_RATE
    if len(audio) == 0 or float(np.sqrt(np.mean(audio**2))) < SILENCE_RMS:
        return Transcript("", 0.0, duration)
    if fits(duration):
        fitted = _decode_fitted(model, audio, beam_size, prefix.strip())
        if fitted is not None:
            return fitted
    return _decode_full(model, audio, beam_size)


def _tokenizer(model: Any) -> Any:
    from faster_whisper.tokenizer import Tokenizer

    with _tokenizers_lock:
        tok = _tokenizers.get(id(model))
        if tok is None:
            tok = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
            )
            _tokenizers[id(model)] = tok
        return tok


def _decode_fitted(
    model: Any,
    audio: np.ndarray[Any, np.dtype[np.float32]],
    beam_size: int,
    prefix: str,
    pad_s: float = PAD_S,
) -> Transcript | None:
    """One greedy-or-beam pass on a fitted window; None when it looped (redo on the full one).
    `pad_s`: the silence after the speech (bench.whisper_decode compares them)."""
    import ctranslate2
    from faster_whisper.transcribe import get_suppressed_tokens

    duration = len(audio) / SAMPLE_RATE
    tok = _tokenizer(model)
    led = np.concatenate([np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32), audio])
    mel = model.feature_extractor(led)[:, :-1]
    frames = window_frames(mel.shape[1], pad_s)
    window = np.zeros((1, mel.shape[0], frames), np.float32)
    window[0, :, : min(mel.shape[1], frames)] = mel[:, :frames]
    encoded = model.model.encode(ctranslate2.StorageView.from_array(window))
    # The prefix tokens as faster-whisper's `get_prompt(prefix=...)` appends them.
    forced = tok.encode(" " + prefix)[: model.max_length // 2 - 1] if prefix else []
    prompt = model.get_prompt(tok, [], without_timestamps=True) + forced
    result = model.model.generate(
        encoded,
        [prompt],
        beam_size=beam_size,
        patience=1.0,
        length_penalty=1.0,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=list(get_suppressed_tokens(tok, [-1])),
        max_initial_timestamp_index=50,
    )[0]
    tokens = list(result.sequences_ids[0])
    if forced and tokens[: len(forced)] == forced:
        tokens = tokens[len(forced) :]
    text = tok.decode(tokens).strip()
    if compression_ratio(text) > MAX_COMPRESSION_RATIO:
        return None
    # The score covers the whole sequence (the forced prefix too): faster-whisper's average.
    n = len(result.sequences_ids[0])
    avg_logprob = result.scores[0] * n / (n + 1)
    # A decode Whisper itself rates as probably not speech is dropped (hallucinations).
    if result.no_speech_prob > 0.8 and avg_logprob < -1.0:
        return Transcript("", 0.0, duration)
    return Transcript(text, min(1.0, math.exp(avg_logprob)) if text else 0.0, duration)


def _decode_full(
    model: Any, audio: np.ndarray[Any, np.dtype[np.float32]], beam_size: int
) -> Transcript:
    duration = len(audio) / SAMPLE_RATE
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
        if seg.no_speech_prob > 0.8 and seg.avg_logprob < -1.0:
            continue
        if seg.text.strip():
            texts.append(seg.text.strip())
            logprobs.append(seg.avg_logprob)
    confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
    return Transcript(" ".join(texts), min(1.0, confidence), duration)
