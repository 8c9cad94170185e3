"""OTLP traces: LiveKit's spans reach a collector (a local HTTP receiver) when asked for."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from callcrew.metrics import tracing

pytestmark = pytest.mark.unit


async def test_spans_are_exported_to_the_configured_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    received: list[bytes] = []

    async def traces(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=200, body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
        monkeypatch.delenv("LIVEKIT_TELEMETRY_ALLOW_PII", raising=False)
        assert tracing.setup_from_env() is False  # nothing configured: nothing installed
        monkeypatch.setenv(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}/v1/traces"
        )
        assert tracing.setup_from_env() is True
        assert tracing.setup_from_env() is True  # once per process

        from livekit.agents.telemetry import tracer

        with tracer.start_as_current_span("callcrew-test-span") as span:
            span.set_attribute("callcrew.channel", "inbound")
        await asyncio.to_thread(tracing.flush)
    finally:
        await asyncio.to_thread(tracing.shutdown)  # later tests export nowhere
        await runner.cleanup()
    body: Any = b"".join(received)
    assert b"callcrew-test-span" in body and b"callcrew.channel" in body
    assert b"service.name" in body and b"callcrew" in body
