"""The rtc_session entrypoint: connect, detect the channel, start the call, dial out if asked."""

from __future__ import annotations

import asyncio
import logging

from livekit import rtc
from livekit.agents import JobContext

from callcrew.call import CallInfo, Channel
from callcrew.job.channel import detect_call
from callcrew.job.control import dispatch_dtmf
from callcrew.job.session import start_call
from callcrew.job.state import _RUNS, CallRun, _background, store_for
from callcrew.metrics import prometheus
from callcrew.metrics.report import mask_number
from callcrew.metrics.webhook import retry_outbox
from callcrew.settings import load_settings
from callcrew.telephony.metadata import OutboundMetadata, parse_outbound_metadata
from callcrew.telephony.outbound import LiveKitAMD, callee_identity, connect_outbound

logger = logging.getLogger("callcrew.worker")


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
