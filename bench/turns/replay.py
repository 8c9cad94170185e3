"""The turn decisions, replayed without a clock: what each configuration decides at every pause
of the corpus, from the words said so far and LiveKit's endpointing rule.

    .venv/bin/python -m bench.turns.replay [--no-question]

The real-time suite (`python -m bench turntaking`) measures the same thing through the audio
path, but on a starved machine its event loop stalls (the mic's frames go out a second late)
and a stall commits turns by itself. This replay is deterministic and load-free: it asks the
detector (providers/turn_words.py) what LiveKit would ask it, at each pause, with the line's
`asked:` question as the agent's last message (as the session's chat context carries it;
`--no-question` and the "words only" rows leave it out), and applies
LiveKit's endpointing (voice/audio_recognition.py `_bounce_eou_task`) with the timings measured
here (docs/benchmarks.md):

- the VAD's end-of-speech anchor lands `LAG_S` (~0.1 s, Silero) after the true end; the VAD
  reports the end of speech `silence` later; a batch STT's transcript comes `X_S` after that;
- the turn commits at anchor + the chosen delay (min_delay, max_delay) but not before the
  end of speech is reported (and, batch, transcribed); an open dictation's hold runs from there;
- a caller who goes on is heard (VAD start of speech, which cancels the pending commit)
  `RESUME_S` after they start again.

A pause is a cut-off when the commit comes before the caller is heard again. It models
decisions, not CPU: STT errors and word timing inside a piece are the real-time suite's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LAG_S = 0.1  # Silero's anchor after the true end (70-155 ms measured, p50 ~105 ms)
RESUME_S = 0.1  # VAD start of speech after the caller goes on (activation + one window)
X_S = 0.1  # the batch STT fake's transcript after the VAD's end of speech
LATE_S = 1.5


@dataclass(frozen=True)
class Config:
    label: str
    silence: float
    min_delay: float
    max_delay: float
    detection: str = "vad"  # vad | words
    hold_s: float | None = 1.2
    batch: bool = False


CONFIGS = [
    Config("defaults (vad 0.55/0.5)", 0.55, 0.5, 3.0),
    Config("fast-vad (0.25/0.2)", 0.25, 0.2, 3.0),
    Config("words 0.4/0.3, batch", 0.4, 0.3, 2.0, "words", batch=True),
    Config("words-0.55 (local until round 5), batch", 0.55, 0.5, 2.0, "words", batch=True),
    Config("words-0.45 (local), batch", 0.45, 0.4, 2.0, "words", batch=True),
    Config("cloud-words, no hold", 0.25, 0.2, 2.0, "words", hold_s=None),
    Config("cloud-words (economy, premium)", 0.25, 0.2, 2.0, "words"),
    Config("cloud-words, hold 0.8", 0.25, 0.2, 2.0, "words", hold_s=0.8),
]


def wait_s(cfg: Config, said: str, asked: str | None = None) -> tuple[float, str]:
    """Seconds from the true end of speech to the commit, and the detector's verdict, the
    agent's question `asked` being its last message (read with the desk crew's list nouns)."""
    from bench.turns.corpus import desk_list_nouns
    from callcrew.providers.turn_words import hold_for, verdict

    reported = LAG_S + cfg.silence + (X_S if cfg.batch else 0.0)  # end of speech known
    if cfg.detection == "vad":
        return max(reported, LAG_S + cfg.min_delay), "vad"
    v = verdict(said, asked, desk_list_nouns())
    if v == "done":
        return max(reported, LAG_S + cfg.min_delay), v
    hold = hold_for(v, cfg.hold_s)
    if hold is not None:
        return max(reported + hold, LAG_S + cfg.min_delay), v
    return max(reported, LAG_S + cfg.max_delay), v


def replay(cfg: Config, lines: list[Any], *, question: bool = True) -> dict[str, Any]:
    """Every line's decisions; `question`: the detector reads the line's `asked` question."""
    cut: list[dict[str, Any]] = []
    ending_waits: list[float] = []
    late: dict[str, int] = {"plain": 0, "pause": 0}
    for ln in lines:
        asked = (ln.asked or None) if question else None
        pieces = [ln.words_of(k) for k in range(len(ln.pieces))]
        for k, pause in enumerate(ln.pauses):
            said = " ".join(pieces[: k + 1])
            w, v = wait_s(cfg, said, asked)
            if pause > 0 and w < pause + RESUME_S:
                cut.append(
                    {"voice": ln.voice, "line": " ".join(pieces), "said": said, "as": v,
                     "asked": ln.asked}
                )  # fmt: skip
                break
        else:
            w, _ = wait_s(cfg, " ".join(pieces), asked)
            late[ln.kind] += w > LATE_S
            if ln.kind == "plain":
                ending_waits.append(w)
    dictation = [ln for ln in lines if ln.kind == "pause"]
    from bench.common import pct

    return {
        "config": cfg.__dict__,
        "question": question and cfg.detection != "vad",
        "dictation_lines": len(dictation),
        "dictation_cut": len(cut),
        "ending_lines": len(lines) - len(dictation),
        "ending_commit_p50_s": pct(ending_waits, 0.5),
        "ending_commit_p95_s": pct(ending_waits, 0.95),
        "ending_commit_max_s": max(ending_waits, default=None),
        "late": late["plain"] + late["pause"],
        "late_ending": late["plain"],
        "late_dictation": late["pause"],
        "cut": cut,
    }


def run(corpus: list[Any], *, question: bool = True) -> list[dict[str, Any]]:
    """Every configuration; the word detector's rows twice, without and with the question."""
    out: list[dict[str, Any]] = []
    for c in CONFIGS:
        if c.detection == "words":
            out.append(replay(c, corpus, question=False))
        if question or c.detection == "vad":
            out.append(replay(c, corpus, question=question))
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import argparse

    from bench.common import ms, table, write_result
    from bench.turns.corpus import lines

    ap = argparse.ArgumentParser(prog="python -m bench.turns.replay")
    ap.add_argument("--no-question", action="store_true", help="the words only (no asked:)")
    args = ap.parse_args(argv)
    # every text line in every voice is the same words: one voice per line, as the suite
    corpus = lines()
    results = run(corpus, question=not args.no_question)
    heads = [
        "config", "question", "dictation cut", "commit after true end p50/p95/max (ending)",
        "late >1.5 s ending", "late >1.5 s dictation",
    ]  # fmt: skip
    rows = [
        [
            r["config"]["label"],
            "yes" if r["question"] else "-",
            f"{r['dictation_cut']}/{r['dictation_lines']}",
            f"{ms(r['ending_commit_p50_s'])}/{ms(r['ending_commit_p95_s'])}"
            f"/{ms(r['ending_commit_max_s'])}",
            f"{r['late_ending']}/{r['ending_lines']}",
            f"{r['late_dictation']}/{r['dictation_lines']}",
        ]
        for r in results
    ]
    print(table(heads, rows))
    for r in results:
        print(f"  {r['config']['label']}{' + question' if r['question'] else ''}: cut at")
        for c in r["cut"]:
            print(f"    {c['said']!r} ({c['as']}) in {c['line']!r} after {c['asked']!r}")
    path = write_result("turns-replay", {"results": results})
    print(f"wrote {path}")
    print(json.dumps({r["config"]["label"] + (" +q" if r["question"] else ""): r["dictation_cut"]
                      for r in results}))  # fmt: skip
    return {"results": results}


if __name__ == "__main__":
    main()
