"""The caller's voice in audio rehearsals: each scripted line spoken by espeak-ng at 16 kHz.

espeak-ng is a different engine from the agent's Hibari voice, so the STT never hears its own TTS.
"""

from __future__ import annotations

import io as _io
import shutil
import subprocess
import wave
from typing import Any

import numpy as np

from callcrew.simulate.audio.line import pcm_to_16k


class CallerVoiceError(RuntimeError):
    pass


def trim(pcm: np.ndarray[Any, Any], threshold: int = 160) -> np.ndarray[Any, Any]:
    """Cut leading and trailing silence (below about -46 dBFS) so the true end is the clip's end."""
    loud = np.nonzero(np.abs(pcm.astype(np.int32)) > threshold)[0]
    if len(loud) == 0:
        return pcm[:0]
    return pcm[loud[0] : loud[-1] + 1]


_voice_cache: dict[tuple[str, str, int], np.ndarray[Any, Any]] = {}


def speak(text: str, voice: str = "en-us", wpm: int = 150) -> np.ndarray[Any, Any]:
    """The caller's line as int16 PCM at 16 kHz, spoken by espeak-ng (blocking)."""
    key = (text, voice, wpm)
    if key in _voice_cache:
        return _voice_cache[key]
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CallerVoiceError(
            "audio rehearsals speak the caller with espeak-ng: apt-get install espeak-ng "
            "(or scripts/install --system)"
        )
    proc = subprocess.run(
        [exe, "-v", voice, "-s", str(wpm), "--stdout", text],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0 or not proc.stdout:
        raise CallerVoiceError(f"espeak-ng failed for {text!r}: {proc.stderr.decode()[:200]}")
    with wave.open(_io.BytesIO(proc.stdout)) as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    clip = trim(pcm_to_16k(pcm, rate))
    _voice_cache[key] = clip
    return clip
