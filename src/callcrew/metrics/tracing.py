"""OpenTelemetry traces of every call: LiveKit's own spans (session, turns, LLM/TTS nodes,
tool calls) exported over OTLP/HTTP when the standard variable names a collector.

`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns it on; the other
`OTEL_*` variables (headers, timeout) are read by the exporter itself. Transcripts and tool
arguments are stripped from spans (caller names and numbers are personal data) unless
`LIVEKIT_TELEMETRY_ALLOW_PII=true` says otherwise, LiveKit's own switch.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("callcrew.tracing")

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_provider: TracerProvider | None = None
_lock = threading.Lock()


def enabled() -> bool:
    return any(os.environ.get(name) for name in ENDPOINT_VARS)


def setup_from_env(service: str = "callcrew") -> bool:
    """Install an OTLP exporter for LiveKit's tracer once per process; False when not asked."""
    global _provider
    if not enabled():
        return False
    with _lock:
        if _provider is not None:
            return True
        from livekit.agents.telemetry import set_tracer_provider
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        allow_pii = None if os.environ.get("LIVEKIT_TELEMETRY_ALLOW_PII") else False
        set_tracer_provider(provider, allow_pii=allow_pii)
        _provider = provider
        # (the endpoint is not logged: a collector URL can carry a token)
        logger.info("call traces are exported over OTLP/HTTP")
        return True


def flush(timeout_s: float = 5.0) -> None:
    """Send what is buffered (a job process may exit right after its call)."""
    provider = _provider
    if provider is not None:
        provider.force_flush(int(timeout_s * 1000))


def shutdown() -> None:
    """Flush and stop exporting; LiveKit's tracer goes back to recording nothing."""
    global _provider
    with _lock:
        provider, _provider = _provider, None
    if provider is None:
        return
    from livekit.agents.telemetry import tracer
    from opentelemetry import trace

    provider.shutdown()
    tracer.set_provider(trace.NoOpTracerProvider())
