"""Running one audio rehearsal: the session on the rehearsal line, caller line by caller line."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from livekit.agents import AgentSession, metrics, stt

from callcrew.call import CallState
from callcrew.profile import BusinessProfile
from callcrew.providers.gated_stt import GatedSTT
from callcrew.providers.local_stt import LocalWhisperSTT
from callcrew.providers.local_tts import LocalHibariTTS
from callcrew.providers.session import attach_backchannel_guard
from callcrew.providers.shared_vad import CallVAD
from callcrew.providers.turn_stt import cut_by_vad
from callcrew.settings import Settings
from callcrew.simulate.audio.line import (
    CallerMic,
    RehearsalSpeaker,
    Timeline,
    Utterance,
    agent_quiet,
)
from callcrew.simulate.audio.score import (
    Heard,
    agent_since_caller,
    audio_report,
    caller_facts,
    split_turn_logs,
)
from callcrew.simulate.audio.setup import (
    AudioOptions,
    LineTrackingReplay,
    rehearsal_settings,
    rehearsal_turn_handling,
    shared_vad,
)
from callcrew.simulate.audio.voice import speak
from callcrew.simulate.conclusion import Conclusion, Played, conclude, open_call
from callcrew.simulate.replay import ReplayScript
from callcrew.simulate.runner import SimResult, TurnLog
from callcrew.simulate.scenario import Scenario
from callcrew.store import Store

log = logging.getLogger("callcrew.simulate.audio")

DEFAULT_BACKCHANNEL_AFTER_S = 1.0
IDLE_SETTLE_S = 0.4  # the agent counts as done when idle this long


async def _wait(event: asyncio.Event, timeout: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout)
        return True
    except TimeoutError:
        return False


async def play_audio(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
    on_turn: Callable[[TurnLog], None] | None,
    started: float,
    options: AudioOptions,
) -> SimResult:
    result = await _play_audio(scenario, settings, profile, store, now, on_turn, started, options)
    # LiveKit's Silero VAD streams (a 60 s speech buffer each, 1.9 MB, four per rehearsal) end
    # the call inside reference cycles, which only a full collection frees; the generational
    # GC counts objects, not bytes, so in a long-lived process (several rehearsals, the soak)
    # they piled up at ~8 MB per call. Collect them now, while nothing is waiting on us.
    gc.collect()
    return result


async def _play_audio(
    scenario: Scenario,
    settings: Settings,
    profile: BusinessProfile,
    store: Store,
    now: Callable[[], datetime],
    on_turn: Callable[[TurnLog], None] | None,
    started: float,
    options: AudioOptions,
) -> SimResult:
    settings = rehearsal_settings(settings)  # Whisper runs: the batch STT's turn values
    call = await open_call(scenario, settings, profile, store, now)
    control, state = call.control, call.state
    lines = list(scenario.turns)
    caller = options.caller
    if caller is not None:
        caller.begin(scenario, profile)
    reply_lines = [i for i, t in enumerate(lines) if not t.backchannel]
    script = ReplayScript(
        turns={-1: scenario.opening} | {i: t.agent for i, t in enumerate(lines)},
        ttft_s=scenario.replay.get("ttft_ms", 0.0) / 1000,
        tokens_per_s=scenario.replay.get("tokens_per_s", 0.0),
    )
    model = LineTrackingReplay(script, reply_lines)
    clips = await asyncio.gather(
        *(
            asyncio.to_thread(speak, t.caller, options.caller_voice, options.caller_wpm)
            for t in (lines if caller is None else [])
        )
    )
    utterances = [
        Utterance(i, t.caller, clip) for i, (t, clip) in enumerate(zip(lines, clips, strict=False))
    ]

    stt_model = LocalWhisperSTT(threads=settings.local_stt_threads)
    tts_model = LocalHibariTTS(voice=settings.local_tts_voice)
    await asyncio.to_thread(stt_model.load)
    await asyncio.to_thread(tts_model.load)
    timeline = Timeline()
    mic = CallerMic(timeline)
    speaker = RehearsalSpeaker(timeline)
    min_words = (
        settings.min_interruption_words
        if options.min_interruption_words is None
        else options.min_interruption_words
    )
    # As on a call (providers/fallback.py): one VAD inference, which the STT side follows.
    call_vad = CallVAD(shared_vad(settings))
    session_stt: stt.STT[Any] = cut_by_vad(
        stt_model,
        call_vad.follower(inference_events=True),
        turn_context=settings.stt_turn_context,
    )
    if options.stt_gate:
        session_stt = GatedSTT(session_stt, call_vad.follower())
    session: AgentSession[CallState] = AgentSession(
        stt=session_stt,
        llm=model,
        tts=tts_model,
        vad=call_vad,
        turn_handling=rehearsal_turn_handling(settings, min_words, call.crew.list_nouns),
        # The simulated caller hears no echo of the agent, so there is no echo canceller to warm
        # up (LiveKit's own simulator also turns the warm-up off).
        aec_warmup_duration=None,
        user_away_timeout=settings.user_away_timeout,
        userdata=state,
    )
    session.input.audio = mic
    session.output.audio = speaker
    if min_words > 0:
        attach_backchannel_guard(session, min_words)

    heard: list[Heard] = []
    stt_runs: list[tuple[float, float]] = []  # (processing s, audio s)
    tts_runs: list[tuple[float, float]] = []
    false_interruptions: list[dict[str, Any]] = []

    @session.on("user_input_transcribed")
    def _on_transcript(ev: Any) -> None:
        if ev.is_final and ev.transcript:
            heard.append(Heard(time.time(), ev.transcript))

    def _on_metrics(m: Any) -> None:
        if isinstance(m, metrics.STTMetrics) and m.audio_duration:
            stt_runs.append((m.duration, m.audio_duration))
        elif isinstance(m, metrics.TTSMetrics) and m.audio_duration and not m.cancelled:
            tts_runs.append((m.duration, m.audio_duration))

    stt_model.on("metrics_collected", _on_metrics)
    tts_model.on("metrics_collected", _on_metrics)

    @session.on("conversation_item_added")
    def _on_item(ev: Any) -> None:
        model.item_added(ev.item)

    @session.on("agent_false_interruption")
    def _on_false(ev: Any) -> None:
        false_interruptions.append({"at": time.time(), "resumed": bool(ev.resumed)})

    async def settle(turn: int) -> bool:
        """Until the agent has used its script for `turn` and gone quiet (or the call ended)."""
        deadline = time.time() + options.turn_timeout_s
        quiet_since: float | None = None
        while time.time() < deadline:
            if (control.hung_up or control.transferred_to) and not speaker.playing:
                return True
            script_done = not script._queues.get(turn)
            if script_done and agent_quiet(session, speaker):
                quiet_since = quiet_since or time.time()
                if time.time() - quiet_since >= IDLE_SETTLE_S:
                    return True
            else:
                quiet_since = None
            await asyncio.sleep(0.05)
        return False

    failures: list[str] = []
    hangs_up = False  # the LLM caller (if any) hung up
    line_notes: dict[int, dict[str, Any]] = {}
    error: str | None = None
    final: str | None = None
    history = session.history
    usage = session.usage
    try:
        async with session:
            timeline.start()
            speaker.start()
            await session.start(call.crew.first_agent(state))
            if not await settle(-1):
                failures.append("the greeting never finished playing")
            unsettled: int | None = None  # a committed line whose answer may still be playing
            for i, turn in enumerate(list(lines)):
                if caller is not None and not turn.backchannel:
                    if unsettled is not None and not await settle(unsettled):
                        failures.append(
                            f"caller line {unsettled + 1}: the agent did not finish answering "
                            f"within {options.turn_timeout_s:g} s"
                        )
                        break
                    unsettled = None
                    if control.hung_up or control.transferred_to:
                        break
                    line = await caller.reply_to(agent_since_caller(session.history))
                    hangs_up = line.hangs_up
                    if not line.text:
                        break
                    turn = lines[i] = turn.model_copy(update={"caller": line.text})
                if caller is not None:
                    clip = await asyncio.to_thread(
                        speak, turn.caller, options.caller_voice, options.caller_wpm
                    )
                    utterances.append(Utterance(i, turn.caller, clip))
                utt = utterances[i]
                note: dict[str, Any] = {}
                over_agent = turn.backchannel or turn.barge_in_after_s is not None
                if not over_agent and unsettled is not None:
                    if not await settle(unsettled):
                        failures.append(
                            f"caller line {unsettled + 1}: the agent did not finish answering "
                            f"within {options.turn_timeout_s:g} s"
                        )
                        break
                    unsettled = None
                if control.hung_up or control.transferred_to:
                    failures.append(
                        f"caller line {i + 1} ({turn.caller!r}) was never heard: the call had "
                        "already ended"
                    )
                    break
                if over_agent:
                    after = (
                        turn.barge_in_after_s
                        if turn.barge_in_after_s is not None
                        else DEFAULT_BACKCHANNEL_AFTER_S
                    )
                    since = utterances[i - 1].ended_at if i else timeline.t0
                    speech_at = await _first_audio(speaker, since or timeline.t0, options)
                    if speech_at is None:
                        failures.append(
                            f"caller line {i + 1}: the agent never started speaking, so there "
                            "was nothing to talk over"
                        )
                        break
                    await asyncio.sleep(max(0.0, speech_at + after - time.time()))
                    note["agent_speaking_at_start"] = speaker.playing
                    if not speaker.playing:
                        failures.append(
                            f"caller line {i + 1}: the agent had already stopped speaking "
                            f"{after:g} s after it started, so the line did not overlap it"
                        )
                else:
                    await asyncio.sleep(
                        turn.pause_s if turn.pause_s is not None else options.pause_s
                    )
                mic.say(utt)
                await utt.done.wait()
                line_notes[i] = note
                if turn.backchannel:
                    continue
                if not await _wait(model.committed[i], options.turn_timeout_s):
                    said = " / ".join(h.text for h in heard if h.at >= (utt.started_at or 0))
                    failures.append(
                        f"caller line {i + 1} ({turn.caller!r}) never became a turn "
                        f"(the STT heard: {said or 'nothing'!r})"
                    )
                    break
                unsettled = i
                if hangs_up:
                    break
            if unsettled is not None:
                await settle(unsettled)
            script.finish_turn()
            final = session.current_agent.id
            history = session.history.copy()
            usage = session.usage
    except Exception as exc:  # the report is written whatever happened
        log.exception("audio rehearsal failed")
        error = f"{type(exc).__name__}: {exc}"
        history, usage = session.history.copy(), session.usage
    finally:
        await speaker.aclose()

    lines = lines[: len(utterances)]  # an LLM caller may hang up before the script runs out
    played = scenario.model_copy(update={"turns": lines})
    opening, turn_logs = split_turn_logs(history, model, lines, utterances, time.time())
    if on_turn:
        on_turn(opening)
        for log_ in turn_logs:
            on_turn(log_)

    audio = audio_report(
        played, utterances, heard, speaker, timeline, history, model, line_notes,
        stt_runs, tts_runs, false_interruptions, mic, options, failures,
    )  # fmt: skip
    wav = options.wav or Path("var/rehearsals") / f"{scenario.label}.wav"
    audio["wav"] = str(wav)
    audio["wav_seconds"] = round(await asyncio.to_thread(timeline.write_wav, wav), 2)
    if isinstance(session_stt, GatedSTT):
        sent, held = round(session_stt.sent_s, 2), round(session_stt.held_s, 2)
        audio["stt_gate"] = {"sent_s": sent, "held_s": held}
    # The recording is on disk. The session, its event handlers, the mic and the speaker form
    # reference cycles, so whatever they still reach waits for a full cyclic collection (see
    # play_audio); dropping our own buffers here frees them by reference counting, at once.
    timeline.release()
    speaker.release()
    for utt in utterances:
        utt.pcm = np.zeros(0, np.int16)
    session.off("user_input_transcribed", _on_transcript)
    session.off("agent_false_interruption", _on_false)
    stt_model.off("metrics_collected", _on_metrics)
    tts_model.off("metrics_collected", _on_metrics)

    problems = [
        *failures,
        *script.problems,
        *(
            f"an extra caller turn the scenario has no line for was committed: {t!r}"
            for t in model.unexpected_turns
        ),
    ]
    result = await conclude(
        scenario,
        settings,
        Conclusion(
            call=call,
            played=Played(history, usage, final, error, opening, turn_logs),
            clock=now(),
            stack="local+replay",
            problems=problems,
            started=started,
            replay_calls=len(script.calls),
            # Measured audio: priced from the real STT/TTS usage, not estimated from words.
            cost_stack="local",
            estimate_speech=False,
            true_end_of_speech=audio.pop("_true_end_by_row"),
            rehearsal={"mode": "audio", **caller_facts(caller, len(utterances), hangs_up)},
            extra={"audio": audio},
        ),
    )
    if caller is not None:
        from callcrew.metrics.side_llm import add_side_usage

        add_side_usage(result.report, caller.side.usage, settings)
        await caller.side.aclose()
    return result


async def _first_audio(
    speaker: RehearsalSpeaker, since: float, options: AudioOptions
) -> float | None:
    deadline = time.time() + options.turn_timeout_s
    while time.time() < deadline:
        at = speaker.first_audio_after(since)
        if at is not None:
            return at
        await asyncio.sleep(0.01)
    return None
