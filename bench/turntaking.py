"""Turn-taking: the corpus (bench/turns/corpus.yaml) through the real audio path, per
configuration of VAD, turn detector, endpointing and preemption.

    .venv/bin/python -m bench turntaking [--quick] [--configs A,B] [--tags T,T] [--no-question]

Every configuration hears the same lines: each text line in one voice (rotating through
espeak-ng en-us, espeak-ng en-gb+f3 and Hibari heart) plus, when Debian's pocketsphinx-testdata
is installed, real recorded speech, spread over `SESSIONS` simultaneous calls (bare Agent,
fixed-latency LLM and TTS, bench/fakes.py). Before each line the agent's chat context gets
the line's `asked:` question as its last message (not spoken), so a text turn detector reads
it as in a call (`--no-question`: not). The batch configurations use the Whisper-like
non-streaming STT (VAD-cut, as the local stack); `cloud-*` the Deepgram-like streaming fake.

Per configuration: turn gap p50/p95 (docs/benchmarks.md: total wait minus X on the path, LLM
time on the path and Z) on the lines that end and on all lines answered after their end;
premature cut-offs (a user turn committed before the caller's last word: the agent's turn
started while the caller still had words to say), count and rate, on dictation lines and on
ending lines; late turns (turn gap > 1.5 s); CPU seconds of this process per caller turn and
per session-minute (the detector's inference threads included).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.call_run import collect, run_calls
from bench.common import (
    REPLY,
    CallerLine,
    CallSpec,
    TurnConfig,
    bare_builder,
    chosen_configs,
    loadavg,
    machine,
    ms,
    render,
    summary,
    table,
    write_result,
)
from bench.fakes import Latencies

LATE_S = 1.5
SESSIONS = 7
IN_TIME_S = 0.1  # a line "in time": no mic frame went out later than this

# name -> configuration. `defaults` / `cloud-defaults` are the framework's (and callcrew's
# previous) values; the shipped ones are `cloud-words` (economy, premium) and `words-0.45`
# (local since round 5, chosen in the local loop where the real Whisper runs; `words-0.55`
# before): turn_defaults.py TURN_DEFAULTS.
CONFIGS: dict[str, TurnConfig] = {
    c.label: c
    for c in [
        TurnConfig("defaults", 0.55, 0.5, preemptive=True),
        TurnConfig("fast-vad", 0.25, 0.2, preemptive=True),
        TurnConfig("eot", 0.25, 0.2, True, "eot", max_delay=2.0),
        TurnConfig("eot-dynamic", 0.25, 0.2, True, "eot", "dynamic", max_delay=2.0),
        TurnConfig("eot-inference-vad", 0.25, 0.2, True, "eot", max_delay=2.0,
                   vad_engine="inference"),
        TurnConfig("eot-no-preempt", 0.25, 0.2, False, "eot", max_delay=2.0),
        TurnConfig("eot-preempt-tts", 0.25, 0.2, True, "eot", max_delay=2.0,
                   preemptive_tts=True),
        TurnConfig("words", 0.25, 0.2, True, "words", max_delay=2.0),
        TurnConfig("words-0.4", 0.4, 0.3, True, "words", max_delay=2.0),
        TurnConfig("words-0.45", 0.45, 0.4, True, "words", max_delay=2.0),
        TurnConfig("words-0.55", 0.55, 0.5, True, "words", max_delay=2.0),
        TurnConfig("cloud-defaults", 0.55, 0.5, preemptive=True, stt="streaming"),
        TurnConfig("cloud-eot", 0.25, 0.2, True, "eot", max_delay=2.0, stt="streaming"),
        TurnConfig("cloud-eot-preempt-tts", 0.25, 0.2, True, "eot", max_delay=2.0,
                   preemptive_tts=True, stt="streaming"),
        TurnConfig("cloud-words", 0.25, 0.2, True, "words", max_delay=2.0, stt="streaming"),
        TurnConfig("cloud-words-nohold", 0.25, 0.2, True, "words", max_delay=2.0,
                   stt="streaming", words_hold=None),
        TurnConfig("cloud-words-fast", 0.2, 0.1, True, "words", max_delay=2.0, stt="streaming"),
        TurnConfig("cloud-words-preempt-tts", 0.25, 0.2, True, "words", max_delay=2.0,
                   preemptive_tts=True, stt="streaming"),
    ]
}  # fmt: skip
QUICK = ["defaults", "eot"]


def corpus_lines(quick: bool, *, question: bool = True) -> list[CallerLine]:
    """The corpus; `question`: each line's session sees its `asked:` question (the agent's last
    message before the line), else no question (the words alone, as before issue 15's round 3)."""
    from dataclasses import replace

    from bench.turns.corpus import lines

    all_lines = lines() if question else [replace(ln, asked="") for ln in lines()]
    if not quick:
        return all_lines
    # one ending and one dictation line, in two different voices
    ending = next(ln for ln in all_lines if ln.kind == "plain")
    dictation = next(ln for ln in all_lines if ln.kind == "pause" and ln.voice != ending.voice)
    return [ending, dictation]


def deal(lines: list[CallerLine], sessions: int) -> list[list[CallerLine]]:
    """Round-robin: each call gets every `sessions`-th line, so kinds and voices mix."""
    return [s for s in (lines[k::sessions] for k in range(sessions)) if s]


async def run_config(
    cfg: TurnConfig, scripts: list[list[CallerLine]], lat: Latencies
) -> dict[str, Any]:
    specs = [
        CallSpec(
            lines=script,
            cfg=cfg,
            lat=lat,
            build=bare_builder(lat, REPLY),
            start_delay_s=k * 0.9,
            label=cfg.label,
        )
        for k, script in enumerate(scripts)
    ]
    c0, w0 = time.process_time(), time.perf_counter()
    calls = await run_calls(specs)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return score(cfg, calls, cpu, wall)


def score(cfg: TurnConfig, calls: list[dict[str, Any]], cpu: float, wall: float) -> dict[str, Any]:
    rows = [r for c in calls for r in c["lines"]]
    ending = [r for r in rows if r["kind"] == "plain"]
    dictation = [r for r in rows if r["kind"] == "pause"]
    gaps_all = [r["turn_gap_s"] for r in rows if "turn_gap_s" in r]
    late = [g for g in gaps_all if g > LATE_S]
    answered = [r for r in rows if "total_wait_s" in r]
    unanswered = [r for r in rows if not r["premature_cutoff"] and "total_wait_s" not in r]
    session_min = sum(c["wall_s"] for c in calls) / 60

    def cut(rs: list[dict[str, Any]], key: str) -> dict[str, str]:
        out: dict[str, list[int]] = {}
        for r in rs:
            out.setdefault(str(r[key]), []).append(int(r["premature_cutoff"]))
        return {k: f"{sum(v)}/{len(v)}" for k, v in sorted(out.items())}

    n_cut = sum(r["premature_cutoff"] for r in dictation)
    # lines whose audio reached the session in time: on a starved machine the event loop
    # stalls (the mic's frames go out late) and a stall can commit a turn by itself
    in_time = [r for r in dictation if r.get("mic_late_s", 0.0) <= IN_TIME_S]
    return {
        "config": cfg.as_dict(),
        "sessions": len(calls),
        "lines": len(rows),
        "turn_gap_s": summary(collect(calls, "plain")["turn_gap_s"]),
        "turn_gap_all_s": summary(gaps_all),
        "total_wait_s": summary(collect(calls, "plain")["total_wait_s"]),
        "committed_s": summary(
            [
                r["committed_s"]
                for r in rows
                if r.get("committed_s") is not None and not r["premature_cutoff"]
            ]
        ),
        "vad_lag_s": summary(collect(calls, None)["vad_lag_s"]),
        "pipeline_s": summary(collect(calls, None)["pipeline_s"]),
        "x_on_path_s": summary(collect(calls, None)["x_on_path_s"]),
        "cutoffs": {
            "dictation_lines": len(dictation),
            "dictation_premature": n_cut,
            "dictation_rate": round(n_cut / len(dictation), 4) if dictation else None,
            "ending_lines": len(ending),
            "ending_premature": sum(r["premature_cutoff"] for r in ending),
            "by_tag": cut(dictation, "tag"),
            "by_voice": cut(dictation, "voice"),
            "by_max_pause_s": cut(dictation, "max_pause_s"),
            "dictation_in_time": len(in_time),
            "dictation_in_time_premature": sum(r["premature_cutoff"] for r in in_time),
        },
        "llm_requests_per_line": {
            kind: _mean([r["llm_requests"] for r in rs if "llm_requests" in r])
            for kind, rs in (("ending", ending), ("dictation", dictation))
        },
        "answered": len(answered),
        "late_turns": len(late),
        "late_rate": round(len(late) / len(answered), 4) if answered else None,
        "unanswered": len(unanswered),
        "cpu_s": round(cpu, 3),
        "wall_s": round(wall, 2),
        "cpu_s_per_turn": round(cpu / len(rows), 4) if rows else None,
        "cpu_s_per_session_minute": round(cpu / session_min, 3) if session_min else None,
        "errors": [c["error"] for c in calls if c["error"]],
        "input_max_lateness_s": max(c["input_max_lateness_s"] for c in calls),
        "calls": calls,
    }


def _mean(xs: list[int]) -> float | None:
    return round(sum(xs) / len(xs), 2) if xs else None


def cut_lines(e: dict[str, Any]) -> list[dict[str, Any]]:
    """Every line committed before its last word, with what the turn was committed as."""
    return [r for c in e["calls"] for r in c["lines"] if r["premature_cutoff"]]


def row(name: str, e: dict[str, Any]) -> list[Any]:
    g, ga, c = e["turn_gap_s"], e["turn_gap_all_s"], e["cutoffs"]
    rate = c["dictation_rate"]
    return [
        name,
        f"{ms(g['p50'])}/{ms(g['p95'])}",
        f"{ms(ga['p50'])}/{ms(ga['p95'])}",
        ms(e["total_wait_s"]["p50"]),
        f"{ms(e['committed_s']['p50'])}/{ms(e['committed_s']['p95'])}",
        f"{c['dictation_premature']}/{c['dictation_lines']}"
        + (f" ({rate * 100:.0f}%)" if rate is not None else ""),
        f"{c['dictation_in_time_premature']}/{c['dictation_in_time']}",
        f"{c['ending_premature']}/{c['ending_lines']}",
        f"{e['late_turns']}",
        e["unanswered"],
        "/".join(str(v if v is not None else "-") for v in e["llm_requests_per_line"].values()),
        f"{e['cpu_s_per_turn'] * 1000:.0f}" if e["cpu_s_per_turn"] is not None else "-",
        e["cpu_s_per_session_minute"],
    ]


HEADS = [
    "config", "gap p50/p95 ending", "gap p50/p95 all", "wait p50", "commit p50/p95",
    "dictation cut",
    "in time cut",
    "ending cut", "late >1.5s", "unanswered", "LLM req/line end/dict", "CPU ms/turn",
    "CPU s/session-min",
]  # fmt: skip


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lat = Latencies()
    names = chosen_configs(args, CONFIGS, QUICK)
    load_before = loadavg()
    question = not getattr(args, "no_question", False)
    lines = corpus_lines(args.quick, question=question)
    if getattr(args, "tags", None):  # a subset: "list,name"
        tags = {t.strip() for t in args.tags.split(",") if t.strip()}
        lines = [ln for ln in lines if ln.tag in tags]
        if not lines:
            raise SystemExit(f"no corpus line has a tag in {sorted(tags)}")
    sessions = 1 if args.quick else (getattr(args, "sessions", None) or SESSIONS)
    # render every line before any clock runs (Hibari synthesizes in this process)
    await asyncio.gather(*(asyncio.to_thread(render, ln) for ln in lines))
    if any(CONFIGS[n].turn_detection == "eot" for n in names):
        from livekit.local_inference import init_eot

        init_eot()  # as the worker's prewarm does
    scripts = deal(lines, sessions)
    results: dict[str, Any] = {}
    for name in names:
        results[name] = await run_config(CONFIGS[name], scripts, lat)
        print(f"  {name}: done ({results[name]['wall_s']:.0f} s)", flush=True)
    print(table(HEADS, [row(n, e) for n, e in results.items()]))
    for n, e in results.items():
        c = e["cutoffs"]
        print(f"  {n}: cut by tag {c['by_tag']} by voice {c['by_voice']}")
    for n, e in results.items():
        print(f"  {n}: lines cut off (voice | line | pieces said | turn committed as)")
        for r in cut_lines(e):
            print(
                f"    {r['voice']} | {r['text']} | {r['cut_after_piece']} | {r['cut_text']!r}"
                f" | mic late {r.get('mic_late_s', 0):.2f} s"
            )
    voices = sorted({ln.voice for ln in lines})
    return {
        "latencies": lat.as_dict(),
        "reply": REPLY,
        "late_s": LATE_S,
        "corpus": {
            "lines": len(lines),
            "ending": sum(ln.kind == "plain" for ln in lines),
            "dictation": sum(ln.kind == "pause" for ln in lines),
            "voices": voices,
        },
        "sessions": sessions,
        "question": question,
        "load_before": load_before,
        "machine_at_start": machine(),
        "results": results,
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    result["load_after"] = loadavg()
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    path = write_result("turntaking", result, args.out)
    print(f"wrote {path}")
    return result
