"""Engine: turn gap at the audio boundary with fixed-latency providers and real speech.

    .venv/bin/python -m bench engine [--quick]

1. Framework defaults (VAD min silence 0.55 s, endpointing min delay 0.5 s, turn detection
   "vad") vs our tuned settings (the defaults in settings.py): per turn, the caller's total
   wait, the turn gap (total wait minus X on the path, Y and Z; see bench/common.py), its parts,
   and LiveKit's own `ChatMessage.metrics` beside the stopwatch.
2. Our pipeline cost: the crew (intro -> appointments desk, tools, bounded context, report)
   vs a bare `Agent` with no tools, same replay model and latencies, tuned settings.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bench.call_run import collect, run_calls
from bench.common import (
    DEFAULTS,
    CallSpec,
    TurnConfig,
    load_lines,
    ms,
    plain_specs,
    spread,
    summary,
    table,
    write_result,
)
from bench.crewcall import bare_replay_builder, crew_builder, llm_requests, tmpdir
from bench.fakes import Latencies

PARTS = [
    ("total_wait_s", "total wait (true end -> first frame)"),
    ("turn_gap_s", "turn gap (minus X on path, Y, Z)"),
    ("vad_lag_s", "  Silero anchor after true end"),
    ("endpoint_wait_s", "  anchor -> VAD end-of-speech event"),
    ("x_on_path_s", "  X on the path"),
    ("pipeline_s", "  pipeline (decided -> frame, minus Y, Z)"),
    ("lk_e2e_latency", "LiveKit e2e_latency"),
    ("stopwatch_minus_lk_e2e", "stopwatch minus LiveKit e2e"),
    ("lk_end_of_turn_delay", "LiveKit end_of_turn_delay"),
    ("lk_transcription_delay", "LiveKit transcription_delay"),
    ("lk_llm_node_ttft", "LiveKit llm_node_ttft (Y = 200)"),
    ("lk_tts_node_ttfb", "LiveKit tts_node_ttfb (Z = 150)"),
]


def tuned() -> TurnConfig:
    from callcrew.settings import Settings

    s = Settings(_env_file=None)  # type: ignore[call-arg]
    return TurnConfig(
        f"tuned {s.vad_min_silence:g}/{s.endpointing_min_delay:g}",
        s.vad_min_silence,
        s.endpointing_min_delay,
        False,
    )


async def defaults_vs_tuned(quick: bool, lat: Latencies) -> dict[str, Any]:
    lines = load_lines("caller_lines.yaml")
    sessions, plain = (1, 1) if quick else (3, 10)
    out = {}
    for cfg in (tuned(),) if quick else (DEFAULTS, tuned()):
        calls = await run_calls(plain_specs(cfg, lat, spread(lines, sessions, plain, 0)))
        vals = collect(calls)
        out[cfg.label] = {
            "calls": calls,
            "config": cfg.as_dict(),
            "sessions": sessions,
            "metrics": {k: summary(vals.get(k, [])) for k, _ in PARTS},
            "errors": [c["error"] for c in calls if c["error"]],
        }
        print(f"  {cfg.label}: done", flush=True)
    labels = list(out)
    rows = []
    for key, name in PARTS:
        row: list[Any] = [name]
        for label in labels:
            m = out[label]["metrics"][key]
            row += [ms(m["p50"]), ms(m["p95"])]
        rows.append(row)
    heads = ["per turn (ms)"]
    for label in labels:
        heads += [f"{label} p50", "p95"]
    n = [out[label]["metrics"]["turn_gap_s"]["n"] for label in labels]
    print(f"turns measured: {n}")
    print(table(heads, rows))
    return out


async def pipeline_cost(quick: bool, lat: Latencies) -> dict[str, Any]:
    lines = load_lines("caller_lines.yaml")
    # One breath per line: a line with a full stop inside ("No, that's all. Thank you.") can be
    # cut at the stop, which would shift the replay script and mix tool and plain turns.
    lines["plain"] = [ln for ln in lines["plain"] if "." not in ln.text.rstrip(".")]
    sessions, plain = (1, 1) if quick else (3, 11)
    cfg = tuned()
    scripts = spread(lines, sessions, plain, 0)
    with tmpdir() as tmp:
        from pathlib import Path

        specs = []
        for k, script in enumerate(scripts):
            short = "Hello, salon desk." if quick else None
            build, on_done = crew_builder(lat, len(script), Path(tmp), short)
            specs.append(
                CallSpec(
                    lines=script,
                    cfg=cfg,
                    lat=lat,
                    build=build,
                    on_done=on_done,
                    greeting=True,
                    start_delay_s=k * 1.3,
                    label="crew",
                )
            )
        crew = await run_calls(specs)
    bare = await run_calls(
        [
            CallSpec(
                lines=script,
                cfg=cfg,
                lat=lat,
                build=bare_replay_builder(lat, len(script)),
                start_delay_s=k * 1.3,
                label="bare",
            )
            for k, script in enumerate(scripts)
        ]
    )

    def split(calls: list[dict[str, Any]], want: str) -> list[dict[str, Any]]:
        # line 0 is the handoff; odd lines are tool turns in the crew's script. After a cut-off
        # (an extra caller turn) the script is out of step: those lines are left out.
        out = []
        for c in calls:
            cut = min((r["line"] for r in c["lines"] if r["turns_committed"] != 1), default=1e9)
            rows = [r for r in c["lines"] if _kind(r["line"]) == want and r["line"] < cut]
            out.append({**c, "lines": rows})
        return out

    result: dict[str, Any] = {}
    rows = []
    for name, calls in (
        ("bare Agent, plain turns", split(bare, "plain")),
        ("crew, plain turns", split(crew, "plain")),
        ("crew, tool turns (find_free_slots)", split(crew, "tool")),
        ("crew, handoff turn (intro -> desk)", split(crew, "handoff")),
    ):
        vals = collect(calls)
        result[name] = {k: summary(vals[k]) for k in ("pipeline_s", "turn_gap_s", "total_wait_s")}
        p, g = result[name]["pipeline_s"], result[name]["turn_gap_s"]
        rows.append([name, p["n"], ms(p["p50"]), ms(p["p95"]), ms(g["p50"]), ms(g["p95"])])
    b, c = result["bare Agent, plain turns"], result["crew, plain turns"]
    diff = {
        k: {
            q: (None if c[k][q] is None or b[k][q] is None else round(c[k][q] - b[k][q], 4))
            for q in ("p50", "p95")
        }
        for k in ("pipeline_s", "turn_gap_s")
    }
    rows.append(
        [
            "crew minus bare (plain turns)",
            "",
            ms(diff["pipeline_s"]["p50"]),
            ms(diff["pipeline_s"]["p95"]),
            ms(diff["turn_gap_s"]["p50"]),
            ms(diff["turn_gap_s"]["p95"]),
        ]
    )
    builds = [x["report_build_s"] for x in crew if "report_build_s" in x]
    result["crew_minus_bare"] = diff
    result["report_build_s"] = summary(builds)
    result["script_problems"] = [p for x in crew for p in x.get("script_problems", [])]
    result["agents_visited"] = [x.get("agents_visited") for x in crew]
    result["errors"] = [x["error"] for x in crew + bare if x["error"]]
    result["calls"] = {"crew": crew, "bare": bare}
    result["lines_with_extra_turns"] = [
        r["text"] for x in crew + bare for r in x["lines"] if r["turns_committed"] != 1
    ]
    result["config"] = cfg.as_dict()
    print(
        table(
            ["pipeline cost", "n", "pipeline p50", "p95", "turn gap p50", "p95"],
            rows,
        )
    )
    print(
        f"report build + cost + save per call: p50 {ms(result['report_build_s']['p50'])} ms "
        f"(after the call, not on any turn); script problems: {len(result['script_problems'])}"
    )
    return result


def _kind(line: int) -> str:
    if line == 0:
        return "handoff"
    return "tool" if llm_requests(line) == 2 else "plain"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    lat = Latencies()
    print(
        f"fixed latencies: X (STT) {lat.stt_ms:g} ms, Y (LLM TTFT) {lat.ttft_ms:g} ms + "
        f"{lat.tokens_per_s:g} tok/s, Z (TTS TTFB) {lat.tts_ttfb_ms:g} ms"
    )
    part = getattr(args, "part", "all")
    dvt = await defaults_vs_tuned(args.quick, lat) if part in ("all", "turns") else {}
    cost = await pipeline_cost(args.quick, lat) if part in ("all", "pipeline") else {}
    return {"latencies": lat.as_dict(), "defaults_vs_tuned": dvt, "pipeline_cost": cost}


def main(args: argparse.Namespace) -> dict[str, Any]:
    result = asyncio.run(run(args))
    print(f"wrote {write_result('engine', result, args.out)}")
    return result
