"""The LiveKit worker: one AgentServer, its per-process prewarm, and the job modules it runs.

LiveKit dispatches each call (SIP inbound, an outbound dial, or a browser) to a job; the job
(callcrew/job/) detects the channel, opens the crew with a typed userdata object, runs one
AgentSession in the room, and writes the call report when the session ends, however it ends.
The names below are re-exported so `callcrew.worker` stays the one place to import from.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from livekit.agents import AgentServer, JobExecutorType, JobProcess

from callcrew.job.channel import SIP_KIND, detect_call
from callcrew.job.control import RoomCallControl, dispatch_dtmf
from callcrew.job.entrypoint import entrypoint
from callcrew.job.report import make_report, on_session_end
from callcrew.job.session import TEXT_ONLY_ENV, start_call
from callcrew.job.state import _BACKGROUND, _RUNS, _STORES, CallRun, _background, store_for
from callcrew.load import CallLoad, default_max_calls
from callcrew.metrics import tracing
from callcrew.metrics.sinks import upkeep
from callcrew.providers.session import load_vad, preload_turn_detector
from callcrew.providers.stacks import resolve_stack
from callcrew.scrub import install_log_scrubber
from callcrew.settings import Settings, load_settings

# livekit/agents/ipc/_preload.py: falsy = never preload its local VAD/EOT models
PRELOAD_LOCAL_INFERENCE_ENV = "LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE"

__all__ = [
    "SIP_KIND",
    "TEXT_ONLY_ENV",
    "_BACKGROUND",
    "_RUNS",
    "_STORES",
    "CallRun",
    "RoomCallControl",
    "build_server",
    "detect_call",
    "dispatch_dtmf",
    "entrypoint",
    "make_report",
    "on_session_end",
    "prewarm",
    "start_call",
    "store_for",
]


def prewarm(proc: JobProcess) -> None:
    settings = load_settings()
    tracing.setup_from_env()  # per job process; only when OTEL_EXPORTER_OTLP_*ENDPOINT is set
    proc.userdata["vad"] = _forked_vad(settings) or load_vad(settings)
    # TURN_DETECTION=eot: load the end-of-turn model here, not in the first call
    proc.userdata["turn_detector_loaded"] = preload_turn_detector(settings)


def _forked_vad(settings: Settings) -> Any:
    """The VAD the forkserver loaded (callcrew/preload.py), if this process came from it with
    the same VAD settings; else None and prewarm loads its own."""
    preload = sys.modules.get("callcrew.preload")
    if preload is None or preload.vad_key(settings) != preload.VAD_KEY:
        return None
    return preload.VAD


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
    if settings.turn_detection != "eot" and settings.vad_engine != "inference":
        # LiveKit preloads its own local VAD and its 244 MB end-of-turn model into every worker
        # (the forkserver, or the one process of a thread executor) unless told not to; with
        # VAD turn-taking and the Silero plugin neither is ever used (docs/operations.md).
        os.environ.setdefault(PRELOAD_LOCAL_INFERENCE_ENV, "0")
    if settings.num_idle_processes is not None:
        levels["num_idle_processes"] = settings.num_idle_processes
    server = AgentServer(
        setup_fnc=prewarm,
        job_executor_type=JobExecutorType(settings.job_executor),
        # The engine and the crew imported once in LiveKit's forkserver, shared by every job
        # process (callcrew/preload.py); a job process then starts in well under a second.
        preload_modules=["callcrew.preload"],
        # A busy 2-core box took 9.4 s to start a job process (LiveKit's limit is 10 s).
        initialize_process_timeout=30.0,
        load_fnc=CallLoad(
            threshold=settings.worker_load_threshold,
            max_calls=settings.worker_max_calls or default_max_calls(_local_models(settings)),
            cpu_full=settings.worker_cpu_full,
        ),
        ws_url=settings.livekit_url,
        api_key=settings.livekit_api_key,
        api_secret=settings.livekit_secret() or None,
        load_threshold=settings.worker_load_threshold,
        drain_timeout=settings.drain_timeout or int(settings.max_call_seconds) + 120,
        **metrics,
        **levels,
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name, on_session_end=on_session_end)
    server.on("worker_started", functools.partial(_on_started, server, settings))
    return server


def _local_models(settings: Settings) -> bool:
    """Whisper or Hibari in the job process: calls cost whole cores, not a few percent."""
    choice = resolve_stack(settings)
    return "local" in (choice.stt.provider, choice.tts.provider)


def _on_started(server: AgentServer, settings: Settings) -> None:
    # In the worker's main process: outbox retries and pending-report recovery while idle.
    _background(upkeep(store_for(settings.database_url, settings.crew), settings))
    _write_health_port(server, settings)


def _write_health_port(server: AgentServer, settings: Settings) -> None:
    if settings.health_port_file is not None:
        port = server._http_server.port if server._http_server is not None else 0
        settings.health_port_file.write_text(f"{port}\n")
