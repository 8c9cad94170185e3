"""Shared by the suites: caller lines, the turn settings of one audio call with fixed-latency
providers, percentiles, machine facts, and writing results. Running a call and measuring each
turn at the audio boundary is bench/call_run.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "src", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from livekit.agents import Agent, AgentSession, llm  # noqa: E402

from bench.fakes import FixedTTS, Latencies  # noqa: E402
from callcrew import yamlio  # noqa: E402
from callcrew.simulate.audio import (  # noqa: E402
    RATE,
    Timeline,
    speak,
)

RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "bench" / "data"
log = logging.getLogger("bench")


# --- numbers -------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, Any]:
    vals = [float(x) for x in values if x is not None]
    return {
        "n": len(vals),
        "p50": _r(pct(vals, 0.5)),
        "p95": _r(pct(vals, 0.95)),
        "mean": _r(statistics.fmean(vals)) if vals else None,
        "min": _r(min(vals)) if vals else None,
        "max": _r(max(vals)) if vals else None,
    }


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(v, nd)


def ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f}"


def chosen_configs(args: Any, configs: Mapping[str, Any], quick: list[str]) -> list[str]:
    """The configurations a suite runs: `--configs a,b` (an unknown name exits with one line),
    else the quick set with `--quick`, else all of them."""
    names = quick if args.quick else list(configs)
    if getattr(args, "configs", None):
        names = [n.strip() for n in args.configs.split(",") if n.strip()]
        unknown = [n for n in names if n not in configs]
        if unknown:
            raise SystemExit(f"unknown config {unknown[0]!r}; one of: {', '.join(configs)}")
    return names


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def machine() -> dict[str, Any]:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return ""

    lscpu = run("lscpu")
    model = next(
        (ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if "Model name" in ln), ""
    )
    mem_kb = next(
        (
            int(ln.split()[1])
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal:")
        ),
        0,
    )
    try:
        from importlib.metadata import version

        lk = version("livekit-agents")
    except Exception:
        lk = "?"
    return {
        "date": run("date", "-u", "+%Y-%m-%d %H:%M UTC"),
        "nproc": run("nproc"),
        "cpu": model,
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "livekit_agents": lk,
    }


def write_result(suite: str, result: dict[str, Any], out: Path | None = None) -> Path:
    out = out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = out / f"{suite}-{stamp}.json"
    result = {"suite": suite, "machine": machine(), **result}
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- caller lines --------------------------------------------------------------------------------


@dataclass
class CallerLine:
    """One thing the caller says: one or more pieces of speech with silent pauses between."""

    pieces: list[str]
    pauses: list[float] = field(default_factory=list)  # seconds of silence between pieces
    kind: str = "plain"  # plain | pause
    voice: str = "espeak:en-us@150"  # bench/turns/corpus.py: espeak:NAME@WPM, hibari:V, real
    tag: str = ""
    said: list[str] | None = None  # the words of each piece, when a piece is not text (a WAV)
    asked: str = ""  # the agent's question before the line (its last message), "" = none

    def words_of(self, k: int) -> str:
        return self.said[k] if self.said else self.pieces[k]

    @property
    def text(self) -> str:
        return " ".join(self.pieces)


def load_lines(name: str) -> dict[str, list[CallerLine]]:
    raw = yamlio.load(yamlio.read_text(DATA / name))
    out: dict[str, list[CallerLine]] = {"plain": [], "pause": []}
    for text in raw["plain"]:
        out["plain"].append(CallerLine([text]))
    for item in raw["pause"]:
        for p in item["pauses"]:
            out["pause"].append(CallerLine(list(item["pieces"]), [float(p)], kind="pause"))
    return out


def render(line: CallerLine) -> tuple[np.ndarray[Any, Any], list[float]]:
    """PCM of the whole line and the offsets (s) at which each piece ends."""
    parts: list[np.ndarray[Any, Any]] = []
    ends: list[float] = []
    pos = 0
    from bench.turns.corpus import speak_piece

    for i, piece in enumerate(line.pieces):
        clip = speak(piece) if line.voice == "espeak:en-us@150" else speak_piece(piece, line.voice)
        parts.append(clip)
        pos += len(clip)
        ends.append(pos / RATE)
        if i < len(line.pieces) - 1:
            gap = np.zeros(int(line.pauses[i] * RATE), np.int16)
            parts.append(gap)
            pos += len(gap)
    return np.concatenate(parts), ends


class QuietTimeline(Timeline):
    """The rehearsal's timeline without keeping the audio (no WAV): memory stays per-call flat."""

    class _Drop(list):  # type: ignore[type-arg]
        def append(self, _: Any) -> None:
            return None

    def __init__(self) -> None:
        super().__init__()
        self.caller = self._Drop()
        self.agent = self._Drop()


# --- one call ------------------------------------------------------------------------------------


@dataclass
class TurnConfig:
    label: str
    vad_min_silence: float
    min_delay: float
    preemptive: bool = False
    turn_detection: str = "vad"  # vad | eot (LiveKit's local audio turn detector, v1-mini)
    endpointing_mode: str = "fixed"  # fixed | dynamic
    max_delay: float = 3.0
    vad_engine: str = "silero"  # silero (plugin) | inference (LiveKit's native Silero)
    preemptive_tts: bool = False
    stt: str = "batch"  # batch (Whisper-like, VAD-cut) | streaming (Deepgram-like fake)
    words_hold: float | None = 1.2  # turn_detection words: an open dictation's wait

    def settings(self, base: Any = None) -> Any:
        from callcrew.settings import Settings

        base = base or Settings(_env_file=None)  # type: ignore[call-arg]
        return base.model_copy(
            update={
                "vad_min_silence": self.vad_min_silence,
                "endpointing_min_delay": self.min_delay,
                "endpointing_max_delay": self.max_delay,
                "endpointing_mode": self.endpointing_mode,
                "turn_detection": self.turn_detection,
                "vad_engine": self.vad_engine,
                "preemptive_generation": self.preemptive,
                "preemptive_tts": self.preemptive_tts,
                "turn_words_hold": self.words_hold,
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "vad_min_silence": self.vad_min_silence,
            "endpointing_min_delay": self.min_delay,
            "endpointing_max_delay": self.max_delay,
            "endpointing_mode": self.endpointing_mode,
            "turn_detection": self.turn_detection,
            "vad_engine": self.vad_engine,
            "preemptive_generation": self.preemptive,
            "preemptive_tts": self.preemptive_tts,
            "stt": self.stt,
            "words_hold": self.words_hold,
        }


DEFAULTS = TurnConfig("framework defaults 0.55/0.5", 0.55, 0.5)


def turn_handling_for(cfg: TurnConfig) -> Any:
    """Our session's turn handling (providers/session.py) with this config's values, and the
    desk crew's list nouns (the benches' callers are the desk's)."""
    from bench.turns.corpus import desk_list_nouns
    from callcrew.providers.session import turn_handling

    return turn_handling(cfg.settings(), list_nouns=desk_list_nouns())


_vads: dict[tuple[float, str], Any] = {}


def vad_for(min_silence: float, engine: str = "silero") -> Any:
    """One VAD per process and setting, shared by every session (as prewarm does)."""
    if (min_silence, engine) not in _vads:
        from callcrew.providers.session import load_vad
        from callcrew.settings import Settings

        s = Settings(_env_file=None, vad_min_silence=min_silence, vad_engine=engine)  # type: ignore[call-arg]
        _vads[(min_silence, engine)] = load_vad(s)
    return _vads[(min_silence, engine)]


@dataclass
class CallSpec:
    lines: list[CallerLine]
    cfg: TurnConfig
    lat: Latencies
    # builds (llm, agent, userdata, llm_words_and_requests(line_index) -> (words, requests))
    build: Callable[[FixedTTS], Awaitable[tuple[llm.LLM[Any], Agent, Any, Any]]]
    pause_before_s: float = 0.5
    start_delay_s: float = 0.0
    settle_s: float = 0.3
    turn_timeout_s: float = 15.0
    label: str = ""
    greeting: bool = False  # the agent speaks first: wait for it before the first line
    on_done: Callable[[AgentSession[Any], Any], Awaitable[dict[str, Any]]] | None = None


def bare_builder(lat: Latencies, reply: str) -> Callable[[FixedTTS], Awaitable[Any]]:
    from bench.fakes import FixedLLM

    words = len(reply.split())

    async def build(_: FixedTTS) -> tuple[Any, Agent, Any, Any]:
        model = FixedLLM(lat, reply)
        agent = Agent(instructions="You are a phone agent. Answer in one short sentence.")
        return model, agent, None, lambda _i: (words, 1)

    return build


REPLY = "Okay, got it."  # the fixed LLM's answer: 3 words, 0.8 s of tone


def spread(
    lines: dict[str, list[CallerLine]], sessions: int, plain: int, pause: int
) -> list[list[CallerLine]]:
    """`sessions` call scripts of `plain` + `pause` lines each, rotating through the lines so
    every session says different ones, pause lines interleaved among the plain ones."""
    out = []
    p_all, q_all = lines["plain"], lines["pause"]
    for s in range(sessions):
        ps = [p_all[(s * plain + k) % len(p_all)] for k in range(plain)]
        qs = [q_all[(s * pause + k) % len(q_all)] for k in range(pause)] if q_all else []
        script: list[CallerLine] = []
        step = max(1, (len(ps) + 1) // (len(qs) + 1)) if qs else 0
        for k, line in enumerate(ps):
            script.append(line)
            if qs and step and (k + 1) % step == 0:
                script.append(qs.pop(0))
        script.extend(qs)
        out.append(script)
    return out


def plain_specs(
    cfg: TurnConfig,
    lat: Latencies,
    scripts: list[list[CallerLine]],
    *,
    stagger_s: float = 1.3,
    label: str = "",
) -> list[CallSpec]:
    return [
        CallSpec(
            lines=script,
            cfg=cfg,
            lat=lat,
            build=bare_builder(lat, REPLY),
            start_delay_s=k * stagger_s,
            label=label or cfg.label,
        )
        for k, script in enumerate(scripts)
    ]


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING)
    for name in ("livekit", "livekit.agents", "livekit.plugins", "asyncio"):
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def cpu_clock() -> Any:
    box: dict[str, float] = {}
    c0, w0 = time.process_time(), time.perf_counter()
    try:
        yield box
    finally:
        box["cpu_s"] = time.process_time() - c0
        box["wall_s"] = time.perf_counter() - w0
