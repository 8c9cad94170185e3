"""The session-end report: built, priced, analysed and sent to every sink, however it ended."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import JobContext

from callcrew.call import CallInfo, Channel
from callcrew.endings import resolve_ended_by
from callcrew.job.state import _RUNS, CallRun, store_for
from callcrew.metrics import prometheus, tracing
from callcrew.metrics.analysis import add_analysis
from callcrew.metrics.call_cost import cost_of_report
from callcrew.metrics.planner import with_vcpu_price
from callcrew.metrics.pricing import CatalogError, load_catalog
from callcrew.metrics.report import build_report
from callcrew.metrics.sinks import persist_report
from callcrew.metrics.webhook import retry_outbox
from callcrew.settings import load_settings

logger = logging.getLogger("callcrew.worker")


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
