"""The LiveKit worker: one AgentServer, one rtc_session entrypoint, one report per call.

LiveKit dispatches each call (SIP inbound, an outbound dial, or a browser) to a job; the job
detects the channel, opens the crew with a typed userdata object, runs one AgentSession in the
room, and writes the call report when the session ends, however it ends.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livekit import api, rtc
from livekit.agents import AgentServer, AgentSession, JobContext, JobProcess, ToolError, llm
from livekit.agents.voice import room_io
from livekit.agents.voice.events import CloseEvent, CloseReason

from callcrew.call import CallInfo, CallState, Channel, Crew, CrewContext, KeyPress
from callcrew.crews import load_crew
from callcrew.endings import resolve_ended_by
from callcrew.guards import CallTimer, SilenceGuard
from callcrew.metrics import prometheus, tracing
from callcrew.metrics.analysis import add_analysis
from callcrew.metrics.call_cost import cost_of_report
from callcrew.metrics.planner import with_vcpu_price
from callcrew.metrics.pricing import CatalogError, load_catalog
from callcrew.metrics.report import build_report, mask_number
from callcrew.metrics.sinks import persist_report, upkeep
from callcrew.metrics.webhook import retry_outbox
from callcrew.phone import is_e164
from callcrew.profile import BusinessProfile, load_profile
from callcrew.providers.phrases import PhraseCache
from callcrew.providers.recovery import ProviderRecovery, crew_failure_plan
from callcrew.providers.session import build_session, load_vad, preload_turn_detector
from callcrew.providers.stacks import resolve_stack
from callcrew.scrub import install_log_scrubber
from callcrew.settings import Settings, load_settings
from callcrew.store import Store, open_store
from callcrew.telephony.dialer import DialError, resolve_trunk
from callcrew.telephony.metadata import OutboundMetadata, parse_outbound_metadata
from callcrew.telephony.outbound import HoldAgent, LiveKitAMD, callee_identity, connect_outbound

logger = logging.getLogger("callcrew.worker")

SIP_KIND = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
# Set by `callcrew console --text`: sessions get no STT or TTS (the console's job runs in this
# process, so the environment is how the command tells the entrypoint).
TEXT_ONLY_ENV = "CALLCREW_TEXT_ONLY"


def _e164_or_none(number: str | None) -> str | None:
    """Withheld or odd caller IDs ("anonymous", "0123") identify nobody: treat them as absent."""
    if not number:
        return None
    cleaned = re.sub(r"[\s().-]", "", number)
    return cleaned if is_e164(cleaned) else None


def detect_call(
    *,
    room: str,
    job_metadata: str,
    participant_kind: int | None,
    attributes: dict[str, str] | None,
) -> CallInfo:
    """Which channel a call came in on, from the dispatch metadata and the first participant.

    An outbound dispatch carries JSON metadata with `phone_number`; a SIP participant means an
    inbound phone call (its attributes hold the caller and the dialled number); anything else is
    a browser or app (web).
    """
    metadata: dict[str, Any] = {}
    if job_metadata.strip():
        try:
            parsed = json.loads(job_metadata)
        except json.JSONDecodeError:
            logger.error("job metadata is not JSON; ignoring it (room %s)", room)
        else:
            if isinstance(parsed, dict):
                metadata = parsed
            else:
                logger.error("job metadata is not a JSON object; ignoring it (room %s)", room)
    if isinstance(metadata.get("phone_number"), str):
        return CallInfo(
            channel=Channel.OUTBOUND,
            room=room,
            caller_number=metadata["phone_number"],
            metadata=metadata,
        )
    attrs = attributes or {}
    if participant_kind == SIP_KIND:
        return CallInfo(
            channel=Channel.INBOUND,
            room=room,
            caller_number=_e164_or_none(attrs.get("sip.phoneNumber")),
            dialled_number=_e164_or_none(attrs.get("sip.trunkPhoneNumber")),
            metadata=metadata,
        )
    return CallInfo(channel=Channel.WEB, room=room, metadata=metadata)


@dataclass
class RoomCallControl:
    """Hang-ups and transfers acted out on the LiveKit room and its SIP participant."""

    ctx: JobContext
    channel: Channel
    participant_identity: str | None
    outbound_trunk: str | None = None  # SIP_OUTBOUND_TRUNK: how a warm transfer dials out
    hung_up: str | None = None
    transferred_to: str | None = None

    async def hang_up(self, reason: str) -> None:
        self.hung_up = reason
        # Deleting the room drops the SIP leg too, so no call keeps billing minutes.
        await self.ctx.delete_room()

    async def transfer(self, to_number: str) -> None:
        if self.participant_identity is None:
            raise RuntimeError("no phone participant to transfer")
        self.transferred_to = to_number
        await self.ctx.api.sip.transfer_sip_participant(
            api.TransferSIPParticipantRequest(
                room_name=self.ctx.room.name,
                participant_identity=self.participant_identity,
                transfer_to=f"tel:{to_number}",
            )
        )

    async def warm_transfer(self, to_number: str, chat_ctx: llm.ChatContext) -> None:
        from livekit.agents.beta.workflows import WarmTransferTask

        if self.outbound_trunk is None:
            raise ToolError("no outbound trunk is configured for calling a colleague")
        try:
            trunk_id, _ = await resolve_trunk(self.ctx.api, self.outbound_trunk)
        except DialError as exc:
            raise ToolError(str(exc)) from None
        # LiveKit's task: dials the colleague, briefs them with the conversation, then
        # connects the caller and leaves; a ToolError when nobody takes the call.
        await WarmTransferTask(sip_call_to=to_number, sip_trunk_id=trunk_id, chat_ctx=chat_ctx)
        self.transferred_to = to_number

    @property
    def can_transfer(self) -> bool:
        return self.channel is not Channel.WEB and self.participant_identity is not None

    @property
    def can_warm_transfer(self) -> bool:
        return self.can_transfer and self.outbound_trunk is not None


@dataclass
class CallRun:
    """What a job knows about its call, for the report written at the end."""

    settings: Settings
    store: Store
    info: CallInfo
    stack: str
    state: CallState | None = None
    session: AgentSession[Any] | None = None
    crew: Crew | None = None
    guards: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    close_reason: str | None = None  # LiveKit's CloseEvent.reason, for `ended_by`
    recovery: ProviderRecovery | None = None  # fallback log, filler, all-failed ending


# One job per process by default; keyed by job id so a thread executor works too.
_RUNS: dict[str, CallRun] = {}
_STORES: dict[str, Store] = {}


_BACKGROUND: set[asyncio.Task[Any]] = set()


def _background(coro: Coroutine[Any, Any, Any]) -> None:
    task = asyncio.create_task(coro)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


@functools.cache
def _profile(path: Path | None, crew: str) -> BusinessProfile:
    # Read once per process: a call should not wait on YAML and validation before it answers.
    return load_profile(path, crew)


def store_for(url: str, crew: str | None = None) -> Store:
    # `crew`: whose tables the store migrates and opens beside the engine's (CREW).
    if url not in _STORES:
        _STORES[url] = open_store(url, crew=crew)
    return _STORES[url]


def prewarm(proc: JobProcess) -> None:
    settings = load_settings()
    tracing.setup_from_env()  # per job process; only when OTEL_EXPORTER_OTLP_*ENDPOINT is set
    proc.userdata["vad"] = load_vad(settings)
    # TURN_DETECTION=eot: load the end-of-turn model here, not in the first call
    proc.userdata["turn_detector_loaded"] = preload_turn_detector(settings)


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
            room_options=room_io.RoomOptions(
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
    texts = [p.greeting, p.goodbye, p.still_there, p.silence_goodbye, p.time_limit_goodbye]
    texts += extra or []  # the filler and the apology: most needed when a provider is down
    try:
        await cache.warm(engine, texts)
    except Exception as exc:  # a cold cache only costs speed, never the call
        logger.warning("phrase cache not warmed: %s", exc)


async def dispatch_dtmf(session: AgentSession[Any], digit: str) -> bool:
    """Hands a keypad digit to the current agent if it takes them (an `on_dtmf` method); every
    digit is recorded in the call state (the report's `keypad`) and logged at debug."""
    agent = session.current_agent
    try:
        data = session.userdata
    except ValueError:  # a session without userdata (raised by LiveKit)
        data = None
    state = data if isinstance(data, CallState) else None
    if state is not None:
        state.keypad.append(KeyPress(digit, datetime.now(UTC), type(agent).__name__))
    logger.debug(
        "call %s: key %r pressed (agent %s)",
        state.info.call_id if state else "-",
        digit,
        type(agent).__name__,
    )
    handler = getattr(agent, "on_dtmf", None)
    if handler is None:
        return False
    await handler(digit)
    return True


async def entrypoint(ctx: JobContext) -> None:
    settings = load_settings()
    # Resend what an earlier process left in the outbox, in the background: never delays answering.
    _background(retry_outbox(store_for(settings.database_url, settings.crew), settings))
    await ctx.connect()
    metadata = ctx.job.metadata or ""
    participant: rtc.RemoteParticipant | None = None
    outbound: OutboundMetadata | None = None
    if '"phone_number"' in metadata:
        try:
            outbound = parse_outbound_metadata(metadata)
        except ValueError as exc:
            # A bad dispatch must end cleanly (a report, the room closed), never crash-loop.
            logger.error("job %s: malformed outbound metadata: %s", ctx.job.id, exc)
            _RUNS[ctx.job.id] = CallRun(
                settings=settings,
                store=store_for(settings.database_url, settings.crew),
                info=CallInfo(channel=Channel.OUTBOUND, room=ctx.room.name),
                stack=settings.stack,
                errors=[f"malformed outbound metadata: {exc}"],
            )
            ctx.shutdown(reason="malformed outbound metadata")
            return
    else:
        participant = await ctx.wait_for_participant()
    if outbound is not None:
        info = CallInfo(
            channel=Channel.OUTBOUND,
            room=ctx.room.name,
            caller_number=outbound.phone_number,
            metadata=outbound.model_dump(),
        )
        identity = callee_identity(info)
    else:
        assert participant is not None
        info = detect_call(
            room=ctx.room.name,
            job_metadata=metadata,
            participant_kind=participant.kind,
            attributes=dict(participant.attributes),
        )
        identity = participant.identity
    _RUNS[ctx.job.id] = CallRun(
        settings=settings,
        store=store_for(settings.database_url, settings.crew),
        info=info,
        stack=settings.stack,
    )
    prometheus.call_started(info.call_id, info.channel.value)
    logger.info(
        "call %s: %s %s %s in room %s",
        info.call_id,
        info.channel.value,
        "to" if outbound else "from",
        mask_number(info.caller_number) or "-",
        info.room,
    )
    try:
        run = await start_call(
            ctx,
            info,
            settings,
            room=ctx.room,
            participant_identity=identity,
            vad_model=ctx.proc.userdata.get("vad"),
            hold=outbound is not None,
        )
        assert run.session is not None and run.state is not None and run.crew is not None
        session = run.session
        prometheus.watch_session(session)

        pending: set[asyncio.Task[bool]] = set()

        def _on_dtmf(ev: rtc.SipDTMF) -> None:
            task = asyncio.create_task(dispatch_dtmf(session, ev.digit))
            pending.add(task)
            task.add_done_callback(pending.discard)

        ctx.room.on("sip_dtmf_received", _on_dtmf)
        if outbound is not None:
            detector = (
                LiveKitAMD(session, identity) if settings.answering_machine_detection else None
            )
            await connect_outbound(
                session=session,
                state=run.state,
                crew=run.crew,
                sip=ctx.api.sip,
                trunk_id=outbound.trunk,
                identity=identity,
                detector=detector,
            )
    except Exception as exc:
        # Recorded for the report on_session_end writes; the framework logs the traceback.
        if run_ := _RUNS.get(ctx.job.id):
            run_.errors.append(f"{type(exc).__name__}: {exc}")
        raise


def make_report(run: CallRun, *, error: str | None = None) -> dict[str, Any]:
    session = run.session
    report = build_report(
        run.state,
        info=run.info,
        history=session.history if session is not None else None,
        usage=session.usage if session is not None else None,
        stack=run.stack,
        error=error,
        providers=run.recovery.log.report() if run.recovery is not None else None,
    )
    try:
        catalog = with_vcpu_price(
            load_catalog(run.settings.prices_file), run.settings.vcpu_hour_usd
        )
        report["cost"] = cost_of_report(
            report, catalog, run.settings.stack, self_hosted=run.settings.livekit_self_hosted
        )
    except CatalogError as exc:
        logger.error("call %s not priced: %s", run.info.call_id, exc)
    return report


async def on_session_end(ctx: JobContext) -> None:
    run = _RUNS.pop(ctx.job.id, None)
    if run is None:
        # The job failed before a call existed; still leave a trace of it.
        settings = load_settings()
        run = CallRun(
            settings=settings,
            store=store_for(settings.database_url, settings.crew),
            info=CallInfo(channel=Channel.WEB, room=ctx.room.name),
            stack=settings.stack,
        )
        error: str | None = "the job ended before the call could start"
    else:
        for guard in run.guards:
            try:
                await guard.aclose()
            except Exception as exc:  # a stuck guard must not cost the report
                run.errors.append(f"{type(guard).__name__} close: {type(exc).__name__}")
        error = "; ".join(run.errors) or None
        if run.state is not None:
            run.state.ended_by = resolve_ended_by(
                run.state.ended_by, close_reason=run.close_reason, errors=run.errors
            )
        if run.recovery is not None:
            run.recovery.log.close()
    try:
        report = await asyncio.to_thread(make_report, run, error=error)
    except Exception as exc:
        # Whatever broke the report builder, the call still leaves a record.
        logger.exception("call %s: report not built", run.info.call_id)
        report = build_report(
            None, info=run.info, history=None, usage=None, stack=run.stack, error=repr(exc)
        )
    profile = run.state.profile if run.state is not None else None

    async def analyse(saved: dict[str, Any]) -> None:
        # After the file and the row, before the outbox entry: the CRM gets the analysis.
        await add_analysis(run.store, run.settings, saved, profile, run.crew)

    # File, store row, analysis, outbox entry, then the POST: each sink tried whatever the
    # others did (metrics/sinks.py).
    await persist_report(run.store, run.settings, report, enrich=analyse)
    prometheus.observe_report(report)
    await asyncio.to_thread(tracing.flush)
    await retry_outbox(run.store, run.settings)
    logger.info(
        "call %s ended: outcome %s, %s s",
        report["call_id"],
        report["outcome"],
        report["duration_s"],
    )


def build_server(settings: Settings) -> AgentServer:
    metrics: dict[str, Any] = {}
    if settings.prometheus_port is not None:
        # LiveKit serves /metrics (its lk_agents_* and our callcrew_*); job processes write
        # their values into the folder so the one endpoint sums every process.
        metrics = {
            "prometheus_port": settings.prometheus_port,
            "prometheus_multiproc_dir": str(settings.prometheus_multiproc_dir.resolve()),
        }
    install_log_scrubber()  # URL passwords and keys out of every log record (scrub.py)
    # LOG_LEVEL, when set, is the level of `start` and `dev` (LiveKit's --log-level still wins);
    # unset, LiveKit keeps its defaults (DEBUG in dev, INFO in start).
    levels: dict[str, Any] = (
        {"log_level": settings.log_level} if "log_level" in settings.model_fields_set else {}
    )
    if settings.worker_port is not None:
        levels["port"] = settings.worker_port
    server = AgentServer(
        setup_fnc=prewarm,
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_secret() or None,
        load_threshold=settings.worker_load_threshold,
        drain_timeout=settings.drain_timeout or int(settings.max_call_seconds) + 120,
        **metrics,
        **levels,
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name, on_session_end=on_session_end)
    server.on("worker_started", functools.partial(_start_upkeep, settings))
    return server


def _start_upkeep(settings: Settings) -> None:
    # In the worker's main process: outbox retries and pending-report recovery while idle.
    _background(upkeep(store_for(settings.database_url, settings.crew), settings))
