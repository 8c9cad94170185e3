"""Benchmark: Whisper tiny.en on a fitted encoder window, and a caller's pieces in context.

    PYTHONPATH=src:. .venv/bin/python -m bench.whisper_decode

On the turn-taking corpus (bench/turns/corpus.yaml, each text line in one voice, plus the
recordings when Debian's pocketsphinx-testdata is installed), no clock in the way:

- every line said whole: decode time p50/p95 and mean WER on the full 30 s window
  (faster-whisper's own `transcribe`) vs a window fitted to the line with `--pads` seconds of
  silence after it (providers/whisper_decode.py ships PAD_S);
- every dictation line cut at its pauses, the way a short-silence VAD cuts it: the pieces
  decoded each on its own (LiveKit's StreamAdapter), each after the earlier ones with their
  words as the forced prefix (providers/turn_stt.py), and the whole line (the bound).

Prints a table, writes JSON to bench/results/; it reports numbers and never fails on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))


def _pcm(line: Any) -> list[np.ndarray[Any, Any]]:
    from bench.turns import corpus

    voice = line.voice
    return [corpus.speak_piece(p, voice).astype(np.float32) / 32768.0 for p in line.pieces]


def _reference(line: Any) -> str:
    return " ".join(line.said) if getattr(line, "said", None) else " ".join(line.pieces)


def _timed(fn: Any) -> tuple[str, float]:
    t0 = time.perf_counter()
    text = fn()
    return text, time.perf_counter() - t0


def whole_lines(model: Any, lines: list[Any], pads: list[float]) -> dict[str, Any]:
    """Full window vs fitted windows; a fitted decode that looped (the shipped code redoes it
    on the full window) counts as no text, and is counted."""
    from callcrew.providers import whisper_decode as wd
    from callcrew.simulate.audio import wer

    rows: dict[str, list[tuple[float, float]]] = {}
    loops: dict[str, int] = {}
    for ln in lines:
        audio = np.concatenate(_pcm(ln))
        ref = _reference(ln)
        text, took = _timed(lambda a=audio: wd._decode_full(model, a, 5).text)
        rows.setdefault("full 30 s window", []).append((took, wer(ref, text)))
        for pad in pads:
            name = f"fitted, {pad:g} s pad"
            t0 = time.perf_counter()
            out = wd._decode_fitted(model, audio, 5, "", pad_s=pad)
            took = time.perf_counter() - t0
            loops[name] = loops.get(name, 0) + (out is None)
            rows.setdefault(name, []).append((took, wer(ref, out.text if out else "")))
    return {k: {**_summary(v), "loops": loops.get(k, 0)} for k, v in rows.items()}


def dictation(model: Any, lines: list[Any]) -> dict[str, Any]:
    """The pieces laid out as the turn STT lays out a turn (`TurnAudio.audio`: each piece
    and its gap)."""
    from callcrew.providers.turn_stt import TurnAudio
    from callcrew.providers.whisper_decode import decode
    from callcrew.simulate.audio import wer

    rows: dict[str, list[tuple[float, float]]] = {}
    for ln in lines:
        if ln.kind != "pause":
            continue
        pieces, ref = _pcm(ln), _reference(ln)
        whole = TurnAudio(pieces=pieces).audio()
        text, took = _timed(lambda w=whole: decode(model, w, 5).text)
        rows.setdefault("whole line", []).append((took, wer(ref, text)))
        t0 = time.perf_counter()
        alone = " ".join(decode(model, p, 5).text for p in pieces)
        rows.setdefault("pieces alone", []).append((time.perf_counter() - t0, wer(ref, alone)))
        t0 = time.perf_counter()
        said: list[str] = []
        for k in range(len(pieces)):
            context = TurnAudio(pieces=pieces[: k + 1]).audio()
            said.append(decode(model, context, 5, prefix=" ".join(said)).text)
        rows.setdefault("pieces in turn context", []).append(
            (time.perf_counter() - t0, wer(ref, " ".join(said)))
        )
    return {k: _summary(v) for k, v in rows.items()}


def _summary(rows: list[tuple[float, float]]) -> dict[str, Any]:
    took = sorted(r[0] for r in rows)
    return {
        "n": len(rows),
        "decode_p50_s": round(statistics.median(took), 3),
        "decode_p95_s": round(took[min(len(took) - 1, int(0.95 * len(took)))], 3),
        "mean_wer": round(statistics.fmean(r[1] for r in rows), 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pads", type=float, nargs="*", default=[1.0, 5.0, 10.0, 15.0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--limit", type=int, default=0, help="the first N lines only (smoke)")
    args = parser.parse_args(argv)

    from bench.local_loop import machine
    from bench.turns import corpus
    from callcrew.providers.local_stt import load_whisper
    from callcrew.providers.whisper_decode import PAD_S

    model = load_whisper(2)
    lines = corpus.lines()
    # a smoke run takes the first N dictation lines and as many ending ones
    if args.limit:
        lines = [ln for ln in lines if ln.kind == "pause"][: args.limit] + [
            ln for ln in lines if ln.kind != "pause"
        ][: args.limit]
    result = {
        "benchmark": "whisper_decode",
        "machine": machine(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "whole_lines": whole_lines(model, lines, args.pads),
        "dictation_lines": dictation(model, lines),
        "shipped_pad_s": PAD_S,
    }
    for section in ("whole_lines", "dictation_lines"):
        print(f"{section.replace('_', ' ')}:")
        for name, row in result[section].items():
            print(
                f"  {name:28s} decode p50 {row['decode_p50_s'] * 1000:4.0f} ms  "
                f"p95 {row['decode_p95_s'] * 1000:4.0f} ms  mean WER {row['mean_wer']:.1%}  "
                f"(n={row['n']}{', loops ' + str(row['loops']) if row.get('loops') else ''})"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"whisper_decode-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
