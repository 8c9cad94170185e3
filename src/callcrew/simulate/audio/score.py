"""Scoring an audio rehearsal: per-line WER, true waits, barge-in checks and the turn logs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livekit.agents import llm

from callcrew.simulate.audio.line import RATE, CallerMic, RehearsalSpeaker, Timeline, Utterance
from callcrew.simulate.audio.setup import AudioOptions, LineTrackingReplay
from callcrew.simulate.audio.words import word_errors
from callcrew.simulate.runner import TurnLog
from callcrew.simulate.scenario import Scenario


@dataclass
class Heard:
    """A final transcript and when it arrived."""

    at: float
    text: str


def caller_facts(caller: Any, lines: int, hung_up: bool) -> dict[str, Any]:
    if caller is None:
        return {}
    ended = "the caller hung up" if hung_up else "the script ran out or the crew ended the call"
    return {
        "caller_llm": {
            "model": caller.side.usage.model,
            "ended": ended,
            "caller_lines": lines,
            "max_turns": caller.max_turns,
        }
    }


def agent_since_caller(history: llm.ChatContext) -> str:
    """What the agent said after the caller's last line: what an LLM caller answers."""
    said: list[str] = []
    for item in history.items:
        if item.type == "message" and item.role == "user":
            said = []
        elif item.type == "message" and item.role == "assistant" and item.text_content:
            said.append(item.text_content)
    return " ".join(said)


def split_turn_logs(
    history: llm.ChatContext,
    model: LineTrackingReplay,
    lines: list[Any],
    utterances: list[Utterance],
    ended: float,
) -> tuple[TurnLog, list[TurnLog]]:
    """History split at the committed caller turns, in the shape of a text rehearsal's logs.

    A turn's wall time runs from its line's first sound to the next line's (or the call's end).
    """
    starts = [u.started_at for u in utterances]
    opening = TurnLog(-1, "", 0.0)
    logs = []
    for i, line in enumerate(lines):
        start = starts[i]
        nxt = next((t for t in starts[i + 1 :] if t is not None), ended)
        logs.append(TurnLog(i, line.caller, (nxt - start) if start is not None else 0.0))
    current = opening
    for item in history.items:
        if item.type == "message" and item.role == "user":
            line = model.message_line.get(item.id)
            if line is not None:
                current = logs[line]
            continue
        if item.type == "message" and item.role == "assistant":
            event = {
                "type": "say",
                "text": item.text_content or "",
                "metrics": dict(item.metrics),
                "interrupted": bool(item.interrupted),
            }
        elif item.type == "function_call":
            event = {"type": "tool_call", "name": item.name, "arguments": item.arguments}
        elif item.type == "function_call_output":
            event = {
                "type": "tool_result",
                "name": item.name,
                "output": item.output,
                "is_error": item.is_error,
            }
        elif item.type == "agent_handoff":
            if item.old_agent_id is None:
                continue  # the first agent starting, not a hand-off
            event = {"type": "handoff", "from": item.old_agent_id, "to": item.new_agent_id}
        else:
            continue
        current.events.append(event)
    return opening, logs


def audio_report(
    scenario: Scenario,
    utterances: list[Utterance],
    heard: list[Heard],
    speaker: RehearsalSpeaker,
    timeline: Timeline,
    history: llm.ChatContext,
    model: LineTrackingReplay,
    notes: dict[int, dict[str, Any]],
    stt_runs: list[tuple[float, float]],
    tts_runs: list[tuple[float, float]],
    false_interruptions: list[dict[str, Any]],
    mic: CallerMic,
    options: AudioOptions,
    failures: list[str],
) -> dict[str, Any]:
    spoken = [u for u in utterances if u.ended_at is not None]
    # What the STT heard for each line: final transcripts between its start and the next one's.
    texts: dict[int, list[str]] = {u.index: [] for u in spoken}
    for h in heard:
        owner = None
        for u in spoken:
            if u.started_at is not None and u.started_at <= h.at:
                owner = u.index
        if owner is not None:
            texts[owner].append(h.text)

    # Assistant-message rows (the report's `turns`) that answer each line.
    rows: dict[int, int] = {}
    row = -1
    line: int | None = None
    for item in history.items:
        if item.type != "message":
            continue
        if item.role == "user":
            line = model.message_line.get(item.id, line)
        elif item.role == "assistant":
            row += 1
            if line is not None and line not in rows:
                rows[line] = row
    true_end_by_row = {rows[u.index]: u.ended_at for u in spoken if u.index in rows and u.ended_at}

    line_rows: list[dict[str, Any]] = []
    total_err = total_words = 0
    for u in spoken:
        turn = scenario.turns[u.index]
        said = " ".join(texts.get(u.index, []))
        errors, words = word_errors(u.text, said)
        if not turn.backchannel:
            total_err += errors
            total_words += words
        entry: dict[str, Any] = {
            "line": u.index + 1,
            "said": u.text,
            "heard": said,
            "wer": round(errors / words, 3) if words else None,
            "speech_start_s": timeline.offset(u.started_at),
            "true_end_of_speech_s": timeline.offset(u.ended_at),
            "speech_s": round(len(u.pcm) / RATE, 2),
            "kind": "backchannel"
            if turn.backchannel
            else ("barge_in" if turn.barge_in_after_s is not None else "turn"),
        }
        entry.update(notes.get(u.index, {}))
        assert u.started_at is not None and u.ended_at is not None
        if not turn.backchannel and u.index in model.message_line.values():
            first = speaker.first_audio_after(u.ended_at)
            entry["first_agent_audio_s"] = timeline.offset(first)
            entry["true_wait_s"] = round(first - u.ended_at, 3) if first else None
            audible = speaker.first_audible_after(u.ended_at)
            entry["true_wait_audible_s"] = round(audible - u.ended_at, 3) if audible else None
            msg = _assistant_for_line(history, model, u.index)
            if msg is not None:
                for key in (
                    "end_of_turn_delay",
                    "transcription_delay",
                    "llm_node_ttft",
                    "tts_node_ttfb",
                    "e2e_latency",
                ):
                    value = msg.get(key)
                    entry[key] = round(float(value), 4) if isinstance(value, int | float) else None
        if turn.barge_in_after_s is not None or turn.backchannel:
            _overlap_checks(entry, u, speaker, history, turn.backchannel, failures)
        line_rows.append(entry)

    stt_proc = sum(p for p, _ in stt_runs)
    stt_audio = sum(a for _, a in stt_runs)
    tts_proc = sum(p for p, _ in tts_runs)
    tts_audio = sum(a for _, a in tts_runs)
    return {
        "caller_voice": f"espeak-ng {options.caller_voice} {options.caller_wpm} wpm",
        "agent_voice": "hibari heart",
        "sample_rate": RATE,
        "lines": line_rows,
        "wer": round(total_err / total_words, 3) if total_words else None,
        "stt_rtf": round(stt_proc / stt_audio, 3) if stt_audio else None,
        "tts_rtf": round(tts_proc / tts_audio, 3) if tts_audio else None,
        "stt_audio_s": round(stt_audio, 2),
        "tts_audio_s": round(tts_audio, 2),
        "false_interruptions": [
            {"at_s": timeline.offset(f["at"]), "resumed": f["resumed"]} for f in false_interruptions
        ],
        "input_max_lateness_s": round(mic.max_lateness, 3),
        "_true_end_by_row": true_end_by_row,
    }


def _assistant_for_line(
    history: llm.ChatContext, model: LineTrackingReplay, line: int
) -> dict[str, Any] | None:
    """LiveKit's metrics for the line: its own message's EOU figures and the first reply's."""
    found: dict[str, Any] | None = None
    current: int | None = None
    for item in history.items:
        if item.type != "message":
            continue
        if item.role == "user":
            current = model.message_line.get(item.id, current)
            if current == line:
                found = dict(item.metrics)
        elif item.role == "assistant" and current == line and found is not None:
            return {**found, **dict(item.metrics)}
    return found


def _overlap_checks(
    entry: dict[str, Any],
    utt: Utterance,
    speaker: RehearsalSpeaker,
    history: llm.ChatContext,
    backchannel: bool,
    failures: list[str],
) -> None:
    start = utt.started_at or 0.0
    pause = next((p for p in speaker.pauses if p >= start), None)
    clear = next((c for c in speaker.clears if c >= start), None)
    stops = [t for t in (pause, clear) if t is not None]
    entry["time_to_pause_s"] = round(pause - start, 3) if pause else None
    entry["time_to_clear_s"] = round(clear - start, 3) if clear else None
    entry["time_to_stop_s"] = round(min(stops) - start, 3) if stops else None
    # The segment that was playing when the line started.
    seg = next(
        (s for s in speaker.segments if s.started_at <= start and (s.ended_at or 1e18) > start),
        None,
    )
    label = f"caller line {utt.index + 1} ({utt.text!r})"
    if backchannel:
        cut = seg is not None and seg.interrupted
        entry["agent_cut_off"] = cut
        if cut:
            failures.append(f"{label}: a backchannel cut the agent off")
        return
    since = seg.started_at if seg is not None else start
    interrupted = [
        item.text_content
        for item in history.items
        if item.type == "message"
        and item.role == "assistant"
        and item.interrupted
        and item.created_at >= since - 60
        and (stops and item.created_at <= max(stops) + 5)
    ]
    entry["interrupted_agent_text"] = interrupted[0] if interrupted else None
    stop = entry["time_to_stop_s"]
    speech_s = len(utt.pcm) / RATE
    entry["stop_after_caller_finished_s"] = None if stop is None else round(stop - speech_s, 3)
    # A barge-in passes when the agent stopped and its reply was cut before its natural end.
    # How soon is a figure (stop_after_caller_finished_s; bench/local_loop.py): with
    # `min_interruption_words` 2 and a non-streaming STT it is the line's transcription,
    # ~0.9 s idle and 5.6 s measured with the machine loaded, so no bound here.
    if stop is None:
        failures.append(f"{label}: the agent never stopped for the barge-in")
    elif seg is not None and not seg.interrupted:
        failures.append(f"{label}: the agent paused but then played its reply to the end")
    if not interrupted:
        failures.append(f"{label}: no agent message is marked interrupted")
