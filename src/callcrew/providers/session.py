"""Builds the AgentSession for a call with every turn-taking option set explicitly.

The framework's defaults reach for LiveKit's cloud inference (turn detector, VAD, adaptive
interruptions); a self-hosted phone line must not depend on that, so each option comes from
settings here.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livekit.agents import NOT_GIVEN, AgentSession, llm, vad
from livekit.agents.voice.turn import TurnHandlingOptions

from callcrew.providers.gated_stt import gate_stt
from callcrew.providers.stacks import StackChoice, build_llm, build_stt, build_tts
from callcrew.settings import Settings


def turn_handling(settings: Settings) -> TurnHandlingOptions:
    return {
        "turn_detection": "vad",
        "endpointing": {
            "mode": "fixed",
            "min_delay": settings.endpointing_min_delay,
            "max_delay": settings.endpointing_max_delay,
        },
        "interruption": {
            "enabled": settings.interruptions,
            "mode": "vad",
            "min_duration": settings.min_interruption_duration,
            "min_words": settings.min_interruption_words,
            "resume_false_interruption": settings.false_interruption_timeout is not None,
            "false_interruption_timeout": settings.false_interruption_timeout,
        },
        "preemptive_generation": {"enabled": settings.preemptive_generation},
    }


def load_vad(settings: Settings) -> vad.VAD:
    from livekit.plugins import silero

    return silero.VAD.load(
        min_silence_duration=settings.vad_min_silence,
        activation_threshold=settings.vad_activation_threshold,
    )


def build_session(
    settings: Settings,
    choice: StackChoice,
    *,
    userdata: Any,
    vad_model: vad.VAD | None,
    llm_override: llm.LLM[Any] | None = None,
    text_only: bool = False,
) -> AgentSession[Any]:
    """`llm_override` replaces only the model (the replay LLM in tests and rehearsals);
    `text_only` (the text console) builds no STT or TTS, so their keys are not needed."""
    stt_model = (
        NOT_GIVEN
        if text_only
        else gate_stt(
            build_stt(settings, choice.stt),
            vad_model,
            enabled=settings.stt_vad_gate,
            pre_roll_s=settings.stt_gate_pre_roll_s,
            post_roll_s=settings.stt_gate_post_roll_s,
        )
    )
    session: AgentSession[Any] = AgentSession(
        stt=stt_model,
        llm=llm_override or build_llm(settings, choice.llm),
        tts=NOT_GIVEN if text_only else build_tts(settings, choice.tts),
        vad=vad_model,
        turn_handling=turn_handling(settings),
        user_away_timeout=settings.user_away_timeout,
        userdata=userdata,
    )
    if settings.min_interruption_words > 0:
        attach_backchannel_guard(session, settings.min_interruption_words)
    return session


def attach_backchannel_guard(session: Any, min_words: int = 2) -> None:
    """Drop a short acknowledgement ("mm-hmm", "right") the caller says over the agent.

    With `interruption.min_words` the session does not interrupt the agent for it, but it keeps
    the words as the start of the caller's next turn; with a non-streaming STT that stale text
    lets the next turn commit as soon as the caller pauses, before the new words are even
    transcribed, so the reply answers "mm-hmm" instead of what followed. Clearing the pending
    user turn (after the session has stored the transcript) avoids that. Cost: a one-word
    answer spoken while the agent is still talking is dropped too; the caller repeats it.
    """
    from livekit.agents.tokenize.basic import split_words

    def _on_transcribed(ev: Any) -> None:
        if not ev.is_final or session.agent_state != "speaking":
            return
        if len(split_words(ev.transcript, split_character=True)) >= min_words:
            return
        asyncio.get_running_loop().call_soon(_clear)

    def _clear() -> None:
        with contextlib.suppress(RuntimeError):  # the session closed meanwhile
            session.clear_user_turn()

    session.on("user_input_transcribed", _on_transcribed)
