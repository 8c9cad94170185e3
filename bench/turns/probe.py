"""What LiveKit's local end-of-turn model (v1-mini) says about the corpus, offline.

    .venv/bin/python -m bench.turns.probe [--quick]

For every line in every voice, the model is asked what the session would ask it: P(turn ended)
over the last 1.2 s of audio, 0.2 s into the silence (LiveKit predicts once the VAD has
counted 200 ms of silence) after each mid-line pause point and after the true end. With the
English "unlikely" threshold t (0.36 for v1-mini), P < t at a true end means the session waits
`max_delay` (a late turn), and P >= t at a pause means it commits after `min_delay` (a cut-off,
if the pause is longer than that). Per voice: P at ends and at pauses, and both error rates at
several thresholds. No session, no real time: a classifier view of the audio turn detector.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

from bench.common import ROOT, machine, pct, render
from bench.turns.corpus import RATE, lines

WINDOW = 19_200  # EOT_MAX_SAMPLES: 1.2 s at 16 kHz
SILENCE_S = 0.2  # LiveKit's MIN_SILENCE_DURATION_MS before it predicts
THRESHOLDS = [0.1, 0.2, 0.3, 0.36, 0.5, 0.7]


def window(pcm: np.ndarray[Any, Any], at: float, rng: np.random.Generator) -> np.ndarray[Any, Any]:
    """The 1.2 s before `at` + 0.2 s, with the mic's faint noise floor (as CallerMic adds)."""
    stop = int((at + SILENCE_S) * RATE)
    padded = np.concatenate([pcm, np.zeros(max(0, stop - len(pcm)), np.int16)])
    clip = padded[max(0, stop - WINDOW) : stop].astype(np.int32)
    clip += rng.normal(0, 3.0, len(clip)).astype(np.int32)
    return np.clip(clip, -32768, 32767).astype(np.int16)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.turns.probe")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    from livekit.local_inference import EOT, init_eot

    init_eot()
    eot = EOT()
    rng = np.random.default_rng(7)
    corpus = lines(every_voice=True)
    if args.quick:
        corpus = corpus[:6]
    rows: list[dict[str, Any]] = []
    t0 = time.process_time()
    for ln in corpus:
        pcm, ends = render(ln)
        for k, end in enumerate(ends):
            last = k == len(ends) - 1
            if not last and ln.pauses[k] < SILENCE_S + 0.05:
                continue  # the VAD never reports this pause as silence: no prediction
            p = float(eot.predict(window(pcm, end, rng)))
            rows.append(
                {"voice": ln.voice, "kind": ln.kind, "tag": ln.tag, "end": last, "p": round(p, 4)}
            )
    cpu = time.process_time() - t0
    voices = sorted({r["voice"] for r in rows})
    out: dict[str, Any] = {"machine": machine(), "cpu_ms_per_predict": None, "voices": {}}
    out["cpu_ms_per_predict"] = round(cpu / max(1, len(rows)) * 1000, 1)
    print(f"{len(rows)} predictions, {out['cpu_ms_per_predict']} ms CPU each")
    print("voice                 P at ends p10/p50   P at pauses p50/p90   "
          + "  ".join(f"t={t:g} late/cut" for t in THRESHOLDS))  # fmt: skip
    for v in [*voices, "all"]:
        rs = [r for r in rows if v in ("all", r["voice"])]
        ends = [r["p"] for r in rs if r["end"]]
        pauses = [r["p"] for r in rs if not r["end"]]
        per_t = {
            t: (sum(p < t for p in ends) / max(1, len(ends)),
                sum(p >= t for p in pauses) / max(1, len(pauses)))
            for t in THRESHOLDS
        }  # fmt: skip
        out["voices"][v] = {
            "ends": len(ends),
            "pauses": len(pauses),
            "p_end": {"p10": pct(ends, 0.1), "p50": pct(ends, 0.5)},
            "p_pause": {"p50": pct(pauses, 0.5), "p90": pct(pauses, 0.9)},
            "late_cut_by_threshold": {
                str(t): [round(a, 3), round(b, 3)] for t, (a, b) in per_t.items()
            },
        }
        d = out["voices"][v]
        print(
            f"{v:20}  {d['p_end']['p10'] or 0:.2f}/{d['p_end']['p50'] or 0:.2f}"
            f"            {d['p_pause']['p50'] or 0:.2f}/{d['p_pause']['p90'] or 0:.2f}        "
            + "  ".join(f"{a * 100:4.0f}%/{b * 100:3.0f}%   " for a, b in per_t.values())
        )
    out["rows"] = rows
    res = ROOT / "bench" / "results"
    res.mkdir(parents=True, exist_ok=True)
    path = res / f"turns-probe-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
