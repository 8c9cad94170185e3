"""Open the crew and start the AgentSession of one call (room audio, text-only, or test audio)."""

from __future__ import annotations

import functools
import logging
import os
from datetime import UTC, datetime
from typing import Any

from livekit import rtc
from livekit.agents import JobContext, llm
from livekit.agents.voice import room_io
from livekit.agents.voice.events import CloseEvent, CloseReason

from callcrew.call import CallInfo, CallState, Channel, CrewContext
from callcrew.crews import load_crew
from callcrew.guards import CallTimer, SilenceGuard
from callcrew.job.control import RoomCallControl
from callcrew.job.state import _RUNS, CallRun, _background, _profile, store_for
from callcrew.providers.phrases import PhraseCache
from callcrew.providers.recovery import ProviderRecovery, crew_failure_plan
from callcrew.providers.session import build_session
from callcrew.providers.stacks import resolve_stack
from callcrew.settings import Settings
from callcrew.telephony.outbound import HoldAgent

logger = logging.getLogger("callcrew.worker")

# Set by `callcrew console --text`: sessions get no STT or TTS (the console's job runs in this
# process, so the environment is how the command tells the entrypoint).
TEXT_ONLY_ENV = "CALLCREW_TEXT_ONLY"


async def start_call(
    ctx: JobContext,
    info: CallInfo,
    settings: Settings,
    *,
    room: rtc.Room | None,
    participant_identity: str | None = None,
    vad_model: Any = None,
    llm_override: llm.LLM[Any] | None = None,
    hold: bool = False,
    audio: tuple[Any, Any] | None = None,
) -> CallRun:
    """Open the crew and start the session. `room=None` runs text-only (tests), or with
    `audio` = (AudioInput, AudioOutput) standing in for the room's tracks (fault tests)."""
    choice = resolve_stack(settings)
    store = store_for(settings.database_url, settings.crew)
    run = _RUNS.get(ctx.job.id) or CallRun(settings=settings, store=store, info=info, stack="")
    run.stack = choice.describe()
    _RUNS[ctx.job.id] = run
    profile = _profile(settings.business_profile, settings.crew)
    crew = load_crew(settings.crew)
    control = RoomCallControl(
        ctx, info.channel, participant_identity, outbound_trunk=settings.sip_outbound_trunk
    )
    crew_ctx = CrewContext(
        settings=settings,
        profile=profile,
        store=store,
        control=control,
        now=lambda: datetime.now(UTC),
        prompts_dir=str(settings.prompts_dir) if settings.prompts_dir else None,
        phrases=PhraseCache(settings.phrase_cache_dir) if settings.phrase_cache_dir else None,
    )
    run.state = await crew.new_call(info, crew_ctx)
    run.recovery = ProviderRecovery(run.state, plan=crew_failure_plan(crew), cache=crew_ctx.phrases)
    run.session = build_session(
        settings,
        choice,
        userdata=run.state,
        vad_model=vad_model,
        llm_override=llm_override,
        text_only=os.environ.get(TEXT_ONLY_ENV) == "1",
        recovery=run.recovery,
        list_nouns=crew.list_nouns,
    )
    run.session.on("close", functools.partial(_record_close, run))
    # An outbound call holds silently until the callee answers (see telephony/outbound.py).
    agent = HoldAgent() if hold else crew.first_agent(run.state)
    run.crew = crew
    if room is None:
        if audio is not None:
            run.session.input.audio, run.session.output.audio = audio
        await run.session.start(agent=agent)
    else:
        await run.session.start(
            agent=agent,
            room=room,
            session_host=for_screen(settings.session_host, info.channel),
            room_options=room_io.RoomOptions(
                audio_input=room_io.AudioInputOptions(sample_rate=settings.audio_input_rate),
                text_output=for_screen(settings.room_transcription, info.channel),
                participant_identity=participant_identity or "",
                # Any ending (agent goodbye, error, caller gone) drops the SIP leg too.
                delete_room_on_close=True,
            ),
        )
    if crew_ctx.phrases is not None and run.session.tts is not None:
        # The first call on a new machine fills the cache; every later one plays from disk.
        extra = [run.state.profile.one_moment, crew_failure_plan(crew)(run.state, "llm").say]
        _background(_warm_phrases(crew_ctx.phrases, run.session.tts, run.state, extra))
    run.guards = [
        SilenceGuard(
            run.session,
            run.state,
            max_nudges=settings.silence_nudges,
            nudge_interval_s=settings.user_away_timeout,
        ),
        CallTimer(run.session, run.state, max_seconds=settings.max_call_seconds),
    ]
    return run


def for_screen(switch: str, channel: Channel) -> bool:
    """An `auto` switch of something only a screen shows: on for web callers, off on a phone."""
    return channel is Channel.WEB if switch == "auto" else switch == "on"


def _record_close(run: CallRun, ev: CloseEvent) -> None:
    run.close_reason = ev.reason.value
    if ev.reason is CloseReason.ERROR and not run.errors:
        # An unrecoverable STT/LLM/TTS error closed the session: the call failed.
        what = type(ev.error).__name__ if ev.error is not None else "no detail given"
        run.errors.append(f"the session closed on an error ({what})")


async def _warm_phrases(
    cache: PhraseCache, engine: Any, state: CallState, extra: list[str] | None = None
) -> None:
    p = state.profile
    # The filler and the apology first: most needed when a provider is down, and the filler
    # can be due a few seconds into the very first call (the greeting is being spoken).
    texts = [*(extra or []), p.greeting, p.goodbye, p.still_there, p.silence_goodbye]
    texts.append(p.time_limit_goodbye)
    try:
        await cache.warm(engine, texts)
    except Exception as exc:  # a cold cache only costs speed, never the call
        logger.warning("phrase cache not warmed: %s", exc)
