"""Whisper on a window fitted to the audio, and a turn's earlier words as a forced prefix.

`unit` tests need no model; `audio` tests run the real Whisper tiny.en on espeak-ng speech.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np
import pytest

from callcrew.providers import whisper_decode as wd
from callcrew.providers.local_stt import load_whisper
from callcrew.simulate.audio import speak, wer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


@pytest.mark.unit
def test_the_window_is_the_speech_and_its_padding_in_whole_seconds() -> None:
    assert wd.window_frames(301) == 1400  # 3 s of speech + 10 s of silence, rounded up
    assert wd.window_frames(1000) == 2000
    assert wd.window_frames(2500) == 3000  # never past Whisper's own 30 s
    assert wd.fits(19.7) and not wd.fits(20.0)  # 0.2 s of lead and 10 s of padding


@pytest.mark.unit
def test_a_loop_has_a_high_compression_ratio() -> None:
    loop = "My name is Daniel Okafor. " * 12
    assert wd.compression_ratio(loop) > wd.MAX_COMPRESSION_RATIO
    assert wd.compression_ratio("Hi, I'd like to book a haircut for next week.") < 2.0
    assert wd.compression_ratio("") == 0.0


@pytest.mark.unit
def test_silence_is_no_text_without_running_a_model() -> None:
    # the model is never touched: an object with no methods would fail if it were
    out = wd.decode(object(), np.zeros(16000, np.float32), beam_size=5)
    assert out.text == "" and out.duration == 1.0


# --- audio: the real model ---------------------------------------------------------------------


def _audio(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return speak(text).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def model() -> Any:
    return load_whisper(2)


@pytest.mark.audio
@needs_espeak
@pytest.mark.parametrize(
    "line",
    [
        "Hi, I'd like to book a haircut for next week.",
        "Wednesday morning if you can, half past nine would be perfect.",
        "Yes.",
    ],
)
def test_a_fitted_window_hears_what_the_full_window_hears(model: Any, line: str) -> None:
    audio = _audio(line)
    fitted = wd._decode_fitted(model, audio, 5, "")
    full = wd._decode_full(model, audio, 5)
    assert fitted is not None  # no loop on an ordinary line
    assert wer(line, fitted.text) <= wer(line, full.text) + 0.1, (fitted.text, full.text)
    assert 0 < fitted.confidence <= 1


@pytest.mark.audio
@needs_espeak
def test_the_prefix_is_not_repeated_and_the_continuation_is_heard(model: Any) -> None:
    first, rest = "My name is Daniel Okafor.", "I'd like a haircut on Friday."
    gap = np.zeros(4800, np.float32)
    audio = np.concatenate([_audio(first), gap, _audio(rest), gap])
    heard_first = wd.decode(model, _audio(first), 5).text
    out = wd.decode(model, audio, 5, prefix=heard_first)
    assert "daniel" not in out.text.lower()  # only what follows the words already sent
    assert wer(rest, out.text) <= 0.35, out.text


@pytest.mark.audio
@needs_espeak
def test_a_long_line_takes_the_full_window(model: Any) -> None:
    # five different lines: the same audio five times made Whisper's own repetition guard
    # (temperature fallback, random) sometimes drop repeats, a flaky count
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    lines = [f"I would like to book a haircut and a colour for {d} morning please. " for d in days]
    audio = np.concatenate([_audio(line) for line in lines])  # ~25 s: no room for the padding
    assert not wd.fits(len(audio) / wd.SAMPLE_RATE)
    out = wd.decode(model, audio, 5, prefix="ignored")
    assert out.text.lower().count("haircut") >= 3, out.text


@pytest.mark.audio
@needs_espeak
def test_a_line_that_starts_on_its_first_word_keeps_its_last_words(model: Any) -> None:
    # without the lead-in silence the fitted window heard "Wednesday morning if"
    line = "Wednesday morning if you can."
    audio = np.concatenate([_audio(line), np.zeros(4800, np.float32)])
    assert wer(line, wd.decode(model, audio, 5).text) <= 0.2
