"""One audio call with fixed-latency providers, and each turn measured at the audio boundary.

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
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import AgentSession, llm

from bench.common import CallSpec, QuietTimeline, render, turn_handling_for, vad_for
from bench.fakes import FixedSTT, FixedTTS
from callcrew.simulate.audio import RATE, CallerMic, RehearsalSpeaker, Utterance, agent_quiet

log = logging.getLogger("bench")


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

    async def settle(after: float) -> None:
        """Until the agent has answered (audio after `after`) and gone quiet."""
        deadline = time.time() + spec.turn_timeout_s
        quiet: float | None = None
        while time.time() < deadline:
            answered = speaker.first_audio_after(after) is not None
            if answered and agent_quiet(session, speaker):
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
