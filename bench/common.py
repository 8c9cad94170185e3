"""Shared by the suites: caller lines, one audio call with fixed-latency providers, per-turn
measurement at the audio boundary, percentiles, machine facts, and writing results.

The audio path is the rehearsal's (`callcrew.simulate.audio`): `CallerMic` feeds espeak-ng speech
in real time as 20 ms frames, `RehearsalSpeaker` plays the agent's audio in real time and records
when each segment's first frame went out. Everything between them is LiveKit's real pipeline:
Silero VAD, the STT `StreamAdapter`, VAD turn detection with fixed endpointing, the LLM and TTS
nodes, the sentence tokenizer, the audio output.

Per caller line (all on `time.time()`):
- true end    = the last speech sample's delivery time (the mic knows it: it fed the audio)
- anchor      = LiveKit's end-of-speech anchor (the user message's `stopped_speaking_at`)
- stt asked   = when the non-streaming STT was asked (the VAD's end-of-speech event)
- stt final   = when its transcript came back (asked + X)
- first frame = when the agent's first audio frame reached the output

    total wait   = first frame - true end                      (what the caller waits)
    floor        = max(stt asked, anchor + endpointing min_delay)
    X on path    = max(0, stt final - floor)   (the STT wait beyond what endpointing waits anyway)
    turn gap     = total wait - X on path - Y on path - Z
    pipeline     = first frame - max(stt final, anchor + min_delay) - Y on path - Z

where Y on path is every LLM TTFT before the first audio plus the streaming of the one-sentence
reply (see `Latencies.llm_critical_s`) and Z the TTS TTFB. The turn gap is what turn-taking and
the framework add; `pipeline` is the Python pipeline alone once the turn is decided.
"""

from __future__ import annotations

import asyncio
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

from bench.fakes import FixedSTT, FixedTTS, Latencies  # noqa: E402
from callcrew import yamlio  # noqa: E402
from callcrew.simulate.audio import (  # noqa: E402
    RATE,
    CallerMic,
    RehearsalSpeaker,
    Timeline,
    Utterance,
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


async def run_call(spec: CallSpec) -> dict[str, Any]:
    """Plays `spec.lines` into one session; returns per-line measurements and the call's facts."""
    await asyncio.sleep(spec.start_delay_s)
    rendered = [await asyncio.to_thread(render, line) for line in spec.lines]
    timeline = QuietTimeline()
    mic = CallerMic(timeline)
    speaker = RehearsalSpeaker(timeline)
    utts = [
        Utterance(i, ln.text, pcm)
        for i, (ln, (pcm, _)) in enumerate(zip(spec.lines, rendered, strict=False))
    ]
    current: dict[str, Any] = {"i": None}

    heard_upto: dict[int, float] = {}  # line -> when the batch STT was last asked

    def transcript(at: float) -> str:
        """What a batch STT asked at `at` (the VAD's end of speech) hears: the words of the
        current line's pieces that ended since it was last asked (one VAD segment can hold
        several pieces when the pauses between them are shorter than the VAD's silence)."""
        i = current["i"]
        if i is None:
            return ""
        utt, (_, ends), line = utts[i], rendered[i], spec.lines[i]
        start = utt.started_at or at
        since = heard_upto.get(i, -1.0)
        heard_upto[i] = at
        said = [line.words_of(k) for k, e in enumerate(ends) if since < start + e <= at + 0.02]
        return " ".join(said)  # "" (nothing new: a split inside a piece) is no transcript

    def heard(lo: float, hi: float) -> str:
        """The words of the current line whose end (spread over each piece by length) lies in
        (lo, hi]: what a streaming STT can have recognised between two finals."""
        i = current["i"]
        if i is None or utts[i].started_at is None:
            return ""
        line, (_, ends), start = spec.lines[i], rendered[i], utts[i].started_at
        out: list[str] = []
        for k, end in enumerate(ends):
            begin = start + (ends[k - 1] + line.pauses[k - 1] if k else 0.0)
            ws = line.words_of(k).split()
            total = sum(len(w) + 1 for w in ws) or 1
            pos = 0
            for w in ws:
                pos += len(w) + 1
                t = begin + (start + end - begin) * pos / total
                if lo < t <= hi:
                    out.append(w)
        return " ".join(out)

    stt_model: Any = FixedSTT(spec.lat, transcript)
    if spec.cfg.stt == "streaming":
        from bench.fakes import StreamingSTT

        stt_model = StreamingSTT(spec.lat, transcript, words_between=heard)
    tts_model = FixedTTS(spec.lat)
    model, agent, userdata, llm_path = await spec.build(tts_model)
    session: AgentSession[Any] = AgentSession(
        stt=stt_model,
        llm=model,
        tts=tts_model,
        vad=vad_for(spec.cfg.vad_min_silence, spec.cfg.vad_engine),
        turn_handling=turn_handling_for(spec.cfg),
        aec_warmup_duration=None,
        user_away_timeout=600.0,
        userdata=userdata,
    )
    session.input.audio = mic
    session.output.audio = speaker
    from callcrew.providers.session import attach_backchannel_guard

    attach_backchannel_guard(session, 2)
    vad_ends: list[float] = []  # the VAD's end-of-speech events (user speaking -> listening)
    session.on(
        "user_state_changed",
        lambda ev: vad_ends.append(time.time()) if ev.old_state == "speaking" else None,
    )
    # When each user turn was really committed: a message's `created_at` is back-dated (to the
    # preemptive generation's start, or to when the caller started speaking).
    commits: list[float] = []
    session.on(
        "conversation_item_added",
        lambda ev: commits.append(time.time()) if getattr(ev.item, "role", "") == "user" else None,
    )

    def idle() -> bool:
        speech = session.current_speech
        return (
            session.agent_state in ("listening", "idle")
            and (speech is None or speech.done())
            and not speaker.playing
        )

    async def settle(after: float) -> None:
        """Until the agent has answered (audio after `after`) and gone quiet."""
        deadline = time.time() + spec.turn_timeout_s
        quiet: float | None = None
        while time.time() < deadline:
            answered = speaker.first_audio_after(after) is not None
            if answered and idle():
                quiet = quiet or time.time()
                if time.time() - quiet >= spec.settle_s:
                    return
            else:
                quiet = None
            await asyncio.sleep(0.02)

    extra: dict[str, Any] = {}
    error: str | None = None
    late_by: dict[int, float] = {}
    t_start = time.time()
    try:
        async with session:
            timeline.start()
            speaker.start()
            await session.start(agent)
            if spec.greeting:
                await settle(timeline.t0)
            for i, utt in enumerate(utts):
                await asyncio.sleep(spec.pause_before_s)
                if spec.lines[i].asked:
                    await _agent_asked(session, spec.lines[i].asked)
                current["i"] = i
                overall = mic.max_lateness
                mic.max_lateness = 0.0  # per line: how late the mic's frames went out
                mic.say(utt)
                await utt.done.wait()
                await settle(utt.ended_at or time.time())
                late_by[i] = mic.max_lateness
                mic.max_lateness = max(overall, mic.max_lateness)
            if spec.on_done is not None:
                extra = await spec.on_done(session, userdata)
            history = session.history.copy()
    except Exception as exc:
        log.exception("bench call failed")
        error = f"{type(exc).__name__}: {exc}"
        history = session.history.copy()
    finally:
        await speaker.aclose()
    wall = time.time() - t_start
    rows = _measure(spec, utts, rendered, speaker, stt_model, history, llm_path, vad_ends, commits)
    asked = [r.asked for r in getattr(model, "requests", [])]
    for r in rows:
        r["mic_late_s"] = round(late_by.get(r["line"], 0.0), 4)
        if asked:
            r["llm_requests"] = _requests_during(utts, r["line"], asked)
    return {
        "label": spec.label,
        "lines": rows,
        "wall_s": round(wall, 2),
        "error": error,
        "input_max_lateness_s": round(mic.max_lateness, 4),
        **extra,
    }


async def _agent_asked(session: AgentSession[Any], question: str) -> None:
    """The agent's question before the caller's line, as its last message in the chat context
    (what a turn detector reads with the transcript: LiveKit's audio_recognition copies the
    agent's chat context), without speaking it: the line's timing stays the caller's alone."""
    agent = session.current_agent
    ctx = agent.chat_ctx.copy()
    ctx.add_message(role="assistant", content=question)
    await agent.update_chat_ctx(ctx)


def _measure(
    spec: CallSpec,
    utts: list[Utterance],
    rendered: list[tuple[Any, list[float]]],
    speaker: RehearsalSpeaker,
    stt_model: Any,
    history: llm.ChatContext,
    llm_path: Callable[[int], tuple[int, int]],
    vad_ends: list[float],
    commits: list[float],
) -> list[dict[str, Any]]:
    lat, cfg = spec.lat, spec.cfg
    items = [it for it in history.items if it.type == "message"]
    rows = []
    for i, utt in enumerate(utts):
        if utt.started_at is None or utt.ended_at is None:
            continue
        start, end = utt.started_at, utt.ended_at
        nxt = utts[i + 1].started_at if i + 1 < len(utts) and utts[i + 1].started_at else 1e18
        users = [m for m in items if m.role == "user" and start <= m.created_at < nxt]
        committed = [t for t in commits if start <= t < nxt]
        if committed:  # commit times known: they decide (created_at may be back-dated)
            premature = users[:1] if any(t < end - 0.01 for t in committed) else []
        else:
            premature = [m for m in users if m.created_at < end - 0.01]
        agent_over = [s for s in speaker.segments if start <= s.started_at < end]
        row: dict[str, Any] = {
            "line": i,
            "text": spec.lines[i].text,
            "kind": spec.lines[i].kind,
            "pause_s": spec.lines[i].pauses[0] if spec.lines[i].pauses else None,
            "max_pause_s": max(spec.lines[i].pauses, default=0.0),
            "voice": spec.lines[i].voice,
            "tag": spec.lines[i].tag,
            "speech_s": round(len(utt.pcm) / RATE, 3),
            "turns_committed": len(users),
            "committed_s": next((round(t - end, 4) for t in committed if t >= end - 0.01), None),
            "premature_cutoff": bool(premature),
            "cut_text": premature[0].text_content if premature else None,
            # how many pieces the caller had said when the turn was first committed
            "cut_after_piece": (
                sum(start + e <= _first_cut(committed, premature, end) for e in rendered[i][1])
                if premature
                else None
            ),
            "agent_spoke_over_caller": bool(agent_over),
        }
        first = speaker.first_audio_after(end)
        audible = speaker.first_audible_after(end)
        # the turn this line ended: the last user message committed after the true end
        after = [m for m in users if m.created_at >= end - 0.01]
        user = after[0] if after else (users[-1] if users else None)
        if first is None or user is None or premature:
            rows.append(row)
            continue
        assistant = next(
            (m for m in items if m.role == "assistant" and m.created_at >= user.created_at), None
        )
        um, am = dict(user.metrics), dict(assistant.metrics) if assistant else {}
        anchor = um.get("stopped_speaking_at")
        reqs = [r for r in stt_model.requests if r.asked >= end - 0.01 and r.asked < first]
        stt_req = reqs[0] if reqs else None
        words, requests = llm_path(i)
        y = lat.llm_critical_s(words, requests)
        z = lat.tts_ttfb_ms / 1000
        total = first - end
        row.update(total_wait_s=total, first_audible_s=(audible - end) if audible else None)
        if anchor is not None:
            row["vad_lag_s"] = anchor - end
        if stt_req is not None and stt_req.answered is not None and anchor is not None:
            # the STT's wait beyond the VAD's end of speech and the endpointing minimum (a
            # streaming STT's final can come before both: then none of X is on the path)
            seen = next((t for t in vad_ends if t >= end - 0.01), None)
            vad_end = stt_req.asked if seen is None else seen
            floor = max(stt_req.asked, vad_end, anchor + cfg.min_delay)
            x_path = max(0.0, stt_req.answered - floor)
            row.update(
                # only from a VAD end this line really had: the STT's request time stands in
                # for the floor, but it can precede the anchor and is no endpointing wait
                endpoint_wait_s=None if seen is None else seen - anchor,
                x_on_path_s=x_path,
                turn_gap_s=total - x_path - y - z,
                pipeline_s=first - max(stt_req.answered, anchor + cfg.min_delay) - y - z,
            )
        row.update(
            y_on_path_s=y,
            z_s=z,
            commit_after_true_end_s=user.created_at - end,
            lk_e2e_latency=am.get("e2e_latency"),
            lk_end_of_turn_delay=um.get("end_of_turn_delay"),
            lk_transcription_delay=um.get("transcription_delay"),
            lk_llm_node_ttft=am.get("llm_node_ttft"),
            lk_tts_node_ttfb=am.get("tts_node_ttfb"),
        )
        rows.append({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    return rows


def _requests_during(utts: list[Utterance], i: int, asked: list[float]) -> int:
    """LLM requests made from line `i`'s first word until the next line starts: its reply's,
    plus the preemptive ones started at its pauses (each sent to the provider, even if dropped)."""
    start = utts[i].started_at or 0.0
    nxt = utts[i + 1].started_at if i + 1 < len(utts) else None
    return sum(start <= t < (nxt or float("inf")) for t in asked)


def _first_cut(committed: list[float], premature: list[Any], end: float) -> float:
    early = [t for t in committed if t < end - 0.01]
    return min(early) if early else float(premature[0].created_at)


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


async def run_calls(specs: list[CallSpec]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(run_call(s) for s in specs)))


def collect(calls: list[dict[str, Any]], kind: str | None = "plain") -> dict[str, list[float]]:
    keys = [
        "total_wait_s", "turn_gap_s", "pipeline_s", "vad_lag_s", "endpoint_wait_s",
        "x_on_path_s", "commit_after_true_end_s", "first_audible_s", "lk_e2e_latency",
        "lk_end_of_turn_delay", "lk_transcription_delay", "lk_llm_node_ttft", "lk_tts_node_ttfb",
    ]  # fmt: skip
    out: dict[str, list[float]] = {k: [] for k in keys}
    for c in calls:
        for row in c["lines"]:
            if kind is not None and row["kind"] != kind:
                continue
            for k in keys:
                v = row.get(k)
                if isinstance(v, int | float):
                    out[k].append(float(v))
    if out["lk_e2e_latency"]:
        out["stopwatch_minus_lk_e2e"] = [
            row["total_wait_s"] - row["lk_e2e_latency"]
            for c in calls
            for row in c["lines"]
            if (kind is None or row["kind"] == kind)
            and isinstance(row.get("lk_e2e_latency"), float)
            and isinstance(row.get("total_wait_s"), float)
        ]
    return out


def cutoffs(calls: list[dict[str, Any]]) -> dict[str, Any]:
    rows = [r for c in calls for r in c["lines"] if r["kind"] == "pause"]
    by_pause: dict[str, list[int]] = {}
    for r in rows:
        by_pause.setdefault(f"{r['pause_s']:g}", []).append(int(r["premature_cutoff"]))
    plain = [r for c in calls for r in c["lines"] if r["kind"] == "plain"]
    return {
        "pause_lines": len(rows),
        "premature": sum(r["premature_cutoff"] for r in rows),
        "agent_spoke_over": sum(r["agent_spoke_over_caller"] for r in rows),
        "by_pause_s": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(by_pause.items())},
        "plain_lines": len(plain),
        "plain_premature": sum(r["premature_cutoff"] for r in plain),
        "unmeasured_plain": sum(1 for r in plain if "turn_gap_s" not in r),
    }


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
