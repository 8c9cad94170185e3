"""The turn-taking corpus (corpus.yaml): lines with where the turn really ends, rendered by
several synthetic voices (espeak-ng variants, the local Hibari voice) and, when Debian's
pocketsphinx-testdata is installed, by real recorded speech. Nothing is downloaded.

A line's audio is its pieces joined by exact silences, so the true end of the turn (the end of
the last piece) and every pause inside it are known to the sample. Each line carries `asked`,
the desk agent's question that preceded it: the benches give it to the turn detector as the
agent's last message, as a session's chat context would.
"""

from __future__ import annotations

import os
import threading
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.yaml"
REAL_SPEECH_DIR = Path("/usr/share/pocketsphinx/test/data")  # Debian pocketsphinx-testdata
RATE = 16_000
CONTINUING = os.environ.get("BENCH_TURNS_FLAT_PIECES") != "1"

_cache: dict[tuple[str, str], np.ndarray[Any, Any]] = {}
_lock = threading.Lock()


KINDS = {"ending": "plain", "dictation": "pause"}  # corpus kind -> CallerLine kind


def desk_list_nouns() -> frozenset[str]:
    """The desk crew's list nouns (`Crew.list_nouns`): the corpus is the desk's callers, so the
    benches' word detectors read its `asked:` questions as the desk's sessions do."""
    from agents.crew import CREW

    return CREW.list_nouns


@dataclass(frozen=True)
class Entry:
    """One corpus line as written in corpus.yaml."""

    tag: str
    kind: str  # ending | dictation
    say: list[Any]  # speech (str) and pauses (seconds)
    asked: str  # the agent's question the line answers

    @classmethod
    def parse(cls, item: Any) -> Entry:
        if not isinstance(item, dict) or not isinstance(item.get("say"), list):
            raise ValueError(f"a corpus line needs `say: [...]`: {item!r}")
        kind, asked = item.get("kind"), item.get("asked")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}: {item!r}")
        if not isinstance(asked, str) or not asked.strip():
            raise ValueError(f"a corpus line needs `asked:` (the agent's question): {item!r}")
        return cls(str(item.get("tag", "")), kind, list(item["say"]), asked.strip())


def spec(path: Path = CORPUS) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw, dict) and raw.get("lines"), f"{path}: no lines"
    return raw


def entries(raw: dict[str, Any], key: str = "lines") -> list[Entry]:
    """The typed lines under `key` ("lines": text, "real": recordings)."""
    return [Entry.parse(item) for item in raw.get(key) or []]


def split(say: list[Any]) -> tuple[list[str], list[float]]:
    """`["a", 0.6, "b"]` -> pieces ["a", "b"], pauses [0.6]; two pieces in a row get no pause."""
    pieces: list[str] = []
    pauses: list[float] = []
    for item in say:
        if isinstance(item, int | float) and not isinstance(item, bool):
            if not pieces or len(pauses) == len(pieces):
                raise ValueError(f"a pause must follow speech: {say!r}")
            pauses.append(float(item))
        else:
            if pieces and len(pauses) < len(pieces):
                pauses.append(0.0)
            pieces.append(str(item))
    if len(pauses) >= len(pieces):
        raise ValueError(f"a line ends with speech, not a pause: {say!r}")
    return pieces, pauses


def voices(raw: dict[str, Any]) -> list[str]:
    return [str(v) for v in raw.get("voices") or ["espeak:en-us@150"]]


def real_speech_available() -> bool:
    return (REAL_SPEECH_DIR / "librivox").is_dir() and (REAL_SPEECH_DIR / "cards").is_dir()


def lines(*, every_voice: bool = False, real: bool = True, path: Path = CORPUS) -> list[Any]:
    """CallerLines (bench.common): each text line in one voice, rotating through `voices`
    (`every_voice`: in each voice), then the real-speech lines if the package is installed."""
    from bench.common import CallerLine

    raw = spec(path)
    vs = voices(raw)
    out: list[CallerLine] = []
    for i, item in enumerate(entries(raw)):
        pieces, pauses = split(item.say)
        for voice in vs if every_voice else [vs[i % len(vs)]]:
            out.append(_line(item, pieces, pauses, voice))
    if real and real_speech_available():
        for item in entries(raw, "real"):
            pieces, pauses = split(item.say)
            ln = _line(item, [f"wav:{p}" for p in pieces], pauses, "real")
            ln.said = [real_words(p) for p in pieces]
            out.append(ln)
    return out


def real_words(wav: str) -> str:
    """What a recording says, from the package's own transcription listing (the bench's STT
    fakes "recognise" it), e.g. `cards/001.wav` -> "ten of clubs"."""
    folder, _, name = wav.partition("/")
    listing = {"cards": "cards.transcription", "librivox": "transcription"}[folder]
    for row in (REAL_SPEECH_DIR / folder / listing).read_text().splitlines():
        text, _, ident = row.rpartition("(")
        if ident.strip(") ") == name.removesuffix(".wav"):
            return text.replace("<s>", "").replace("</s>", "").strip()
    raise ValueError(f"{wav}: not in {listing}")


def _line(item: Entry, pieces: list[str], pauses: list[float], voice: str) -> Any:
    from bench.common import CallerLine

    kind = KINDS[item.kind]
    if CONTINUING and voice != "real":
        pieces = [_continuing(p) for p in pieces[:-1]] + pieces[-1:]
    if kind == "pause" and not any(p > 0 for p in pauses):
        raise ValueError(f"a dictation line needs a pause: {item!r}")
    return CallerLine(pieces, pauses, kind=kind, voice=voice, tag=item.tag, asked=item.asked)


def _continuing(piece: str) -> str:
    """A piece the caller goes on after is said with a continuing (not a falling, sentence-
    final) intonation, as people read out groups of digits: a TTS renders a bare piece as a
    whole sentence, a trailing comma as a clause that goes on."""
    return piece if piece[-1:] in ",;:?!" else piece.rstrip(".") + ","


# --- voices ----------------------------------------------------------------------------------


def speak_piece(piece: str, voice: str) -> np.ndarray[Any, Any]:
    """int16 PCM at 16 kHz, leading/trailing silence trimmed (so the end of speech is exact)."""
    key = (piece, voice)
    with _lock:
        if key in _cache:
            return _cache[key]
    if piece.startswith("wav:"):
        pcm = _wav(REAL_SPEECH_DIR / piece[4:])
    elif voice.startswith("hibari:"):
        pcm = _hibari(piece, voice.split(":", 1)[1])
    else:
        pcm = _espeak(piece, voice)
    with _lock:
        _cache[key] = pcm
    return pcm


def _espeak(text: str, voice: str) -> np.ndarray[Any, Any]:
    from callcrew.simulate.audio import speak

    name = voice.removeprefix("espeak:")
    name, _, wpm = name.partition("@")
    return speak(text, name, int(wpm or 150))


def _hibari(text: str, voice: str) -> np.ndarray[Any, Any]:
    from callcrew.providers.local_tts import SAMPLE_RATE, load_hibari, sentences, synth
    from callcrew.simulate.audio import pcm_to_16k, trim

    model = load_hibari(voice)
    pcm = b"".join(synth(model, ph, i) for i, ph in enumerate(sentences(model, text)))
    return trim(pcm_to_16k(np.frombuffer(pcm, np.int16), SAMPLE_RATE))


def _wav(path: Path) -> np.ndarray[Any, Any]:
    from callcrew.simulate.audio import pcm_to_16k

    with wave.open(str(path)) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    if width != 2:
        raise ValueError(f"{path}: 16-bit PCM expected")
    if channels > 1:
        data = data.reshape(-1, channels)[:, 0].copy()
    # recorded speech has a noise floor (peaks to ~700): trim on 20 ms frames' RMS instead
    pcm = pcm_to_16k(data, rate)
    n = len(pcm) // 320
    rms = np.sqrt((pcm[: n * 320].astype(np.float64).reshape(n, 320) ** 2).mean(axis=1))
    loud = np.nonzero(rms > 300)[0]
    if len(loud) == 0:
        raise ValueError(f"{path}: no speech found")
    return pcm[loud[0] * 320 : (loud[-1] + 1) * 320]
