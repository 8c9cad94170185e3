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
from livekit.agents.types import APIConnectOptions
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.turn import TurnHandlingOptions

from callcrew.metrics.agent_usage import track_agent_usage
from callcrew.providers.agent_providers import CallProviders, register
from callcrew.providers.fallback import (
    Chain,
    build_call_stt_chain,
    build_llm_chain,
    build_tts_chain,
)
from callcrew.providers.phrase_tts import PhraseTTS
from callcrew.providers.recovery import ProviderRecovery, RecoveringLLM
from callcrew.providers.shared_vad import call_vad
from callcrew.providers.stacks import StackChoice
from callcrew.settings import Settings


def turn_handling(
    settings: Settings, detector: Any = None, *, list_nouns: frozenset[str] = frozenset()
) -> TurnHandlingOptions:
    """`detector`: the TurnDetector to use when TURN_DETECTION=eot (one per session is cheap:
    the model is a process-wide native singleton, loaded in prewarm). `list_nouns`: the crew's
    words for a list question (`Crew.list_nouns`), for TURN_DETECTION=words."""
    detection: Any = "vad"
    if settings.turn_detection == "eot":
        detection = detector if detector is not None else load_turn_detector()
    elif settings.turn_detection == "words":
        from callcrew.providers.turn_words import DictationTurnDetector

        detection = DictationTurnDetector(hold_s=settings.turn_words_hold, list_nouns=list_nouns)
    return {
        "turn_detection": detection,
        "endpointing": {
            "mode": settings.endpointing_mode,
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
        "preemptive_generation": {
            "enabled": settings.preemptive_generation,
            "preemptive_tts": settings.preemptive_tts,
        },
    }


def load_turn_detector() -> Any:
    """LiveKit's audio end-of-turn model, pinned to the local `v1-mini` (never the cloud `v1`,
    which the framework picks by itself in dev mode with LiveKit Cloud credentials)."""
    from livekit.agents import inference

    return inference.TurnDetector(version="v1-mini")


def preload_turn_detector(settings: Settings) -> bool:
    """Load the end-of-turn model (~108 MB, ~1.6 s) in prewarm, so the first call does not."""
    if settings.turn_detection != "eot":
        return False
    from livekit.local_inference import init_eot

    init_eot()
    return True


def load_vad(settings: Settings) -> vad.VAD:
    if settings.vad_engine == "inference":
        from livekit.agents import inference

        return inference.VAD(
            min_silence_duration=settings.vad_min_silence,
            activation_threshold=settings.vad_activation_threshold,
        )
    from livekit.plugins import silero

    return silero.VAD.load(
        min_silence_duration=settings.vad_min_silence,
        activation_threshold=settings.vad_activation_threshold,
    )


def conn_options(settings: Settings) -> SessionConnectOptions:
    """Per-attempt timeouts sized for a phone call; the chains, not the session, retry."""
    retry = settings.provider_retries

    def attempt(timeout: float) -> APIConnectOptions:
        return APIConnectOptions(max_retry=retry, timeout=timeout, retry_interval=0.3)

    return SessionConnectOptions(
        stt_conn_options=attempt(settings.stt_attempt_timeout),
        llm_conn_options=attempt(settings.llm_attempt_timeout),
        tts_conn_options=attempt(settings.tts_attempt_timeout),
    )


def build_session(
    settings: Settings,
    choice: StackChoice,
    *,
    userdata: Any,
    vad_model: vad.VAD | None,
    llm_override: llm.LLM[Any] | None = None,
    text_only: bool = False,
    recovery: ProviderRecovery | None = None,
    list_nouns: frozenset[str] = frozenset(),
) -> AgentSession[Any]:
    """`llm_override` replaces only the model (the replay LLM in tests and rehearsals);
    `text_only` (the text console) builds no STT or TTS, so their keys are not needed;
    `list_nouns`: the crew's (`Crew.list_nouns`), for the word turn detector.

    Each block is its fallback chain (providers/fallback.py); with `recovery` the call gets the
    filler, the provider log and the all-failed ending (providers/recovery.py).
    """
    # One VAD inference per call: the session's, heard by the STT gate and the batch adapter.
    vad_model = call_vad(vad_model)
    chains: list[Chain] = []
    stt_model: Any = NOT_GIVEN
    tts_model: Any = NOT_GIVEN
    if not text_only:
        stt_chain = build_call_stt_chain(settings, choice, vad_model)
        tts_chain = build_tts_chain(settings, choice)
        chains = [stt_chain, tts_chain]
        stt_model = stt_chain.engine
        tts_model = tts_chain.engine
        if recovery is not None and recovery.cache is not None:
            # The filler plays from the phrase cache, not through a TTS that may be the
            # block that is down (providers/phrase_tts.py).
            tts_model = PhraseTTS(tts_model, recovery.cache)
    model: llm.LLM[Any] = llm_override or RecoveringLLM(
        build_llm_chain(settings, choice), filler_after=settings.filler_after
    )
    session: AgentSession[Any] = AgentSession(
        stt=stt_model,
        llm=model,
        tts=tts_model,
        vad=vad_model,
        turn_handling=turn_handling(settings, list_nouns=list_nouns),
        user_away_timeout=settings.user_away_timeout,
        conn_options=conn_options(settings),
        userdata=userdata,
    )
    if recovery is not None:
        recovery.attach(session, chains)
    # Agents with their own blocks build them like the session's (providers/agent_providers.py).
    register(
        userdata,
        CallProviders(
            settings,
            choice,
            vad_model=vad_model,
            text_only=text_only,
            llm_replaced=llm_override is not None,
            recovery=recovery,
            list_nouns=list_nouns,
        ),
    )
    track_agent_usage(session)
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
