"""A local OpenAI-compatible chat-completions server for tests: streams scripted replies.

It speaks the real wire format (SSE `chat.completion.chunk` objects, tool-call deltas, a final
usage chunk), so the OpenAI plugin's own client code runs unchanged against it.

Faults are injected here, at the network boundary: `faults` maps a model name to how every
request for it fails (an HTTP 500 / 429 / 401 whose body echoes the caller's `Authorization`
header as some providers do, a hang, a connection dropped after the headers or after the first
words, a malformed SSE stream). A fallback chain of several models on one stub is then a chain
of providers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web


@dataclass
class StubReply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


Fault = Literal["500", "429", "401", "hang", "drop", "drop_mid", "malformed"]
FAULTS: tuple[Fault, ...] = ("500", "429", "401", "hang", "drop", "drop_mid", "malformed")


@dataclass
class OpenAIStub:
    replies: list[StubReply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    faults: dict[str, Fault] = field(default_factory=dict)  # model name -> how it fails
    keys: list[str] = field(default_factory=list)  # each request's Authorization header
    _release: asyncio.Event = field(default_factory=asyncio.Event)  # ends hanging requests

    async def _fault(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        if fault == "500":
            return web.json_response(
                {"error": {"message": "The server had an error", "type": "server_error"}},
                status=500,
            )
        if fault == "429":
            return web.json_response(
                {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                status=429,
                headers={"Retry-After": "20"},
            )
        if fault == "401":
            auth = request.headers.get("Authorization", "")
            return web.json_response(
                {"error": {"message": f"Incorrect API key provided: {auth}", "type": "auth"}},
                status=401,
            )
        if fault == "hang":
            await self._release.wait()  # never answers while the test runs
            return web.Response(status=504)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        if fault == "malformed":
            await resp.write(b'data: {"id": "chatcmpl-stub", "choices": [{"delta": {"cont\n\n')
            await resp.write(b"data: not json at all\n\n")
            return resp
        if fault == "drop_mid":  # a few words of an answer, then the connection is gone
            for word in ("Of", "course,"):
                delta = {"role": "assistant", "content": word + " "}
                chunk = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0,
                         "model": "stub", "choices": [{"index": 0, "delta": delta}]}  # fmt: skip
                await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await asyncio.sleep(0.05)
        # "drop": the headers went out, then the connection is gone.
        assert request.transport is not None
        request.transport.close()
        return resp

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.keys.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization", "") == "":
            return web.json_response({"error": {"message": "no key"}}, status=401)
        if (fault := self.faults.get(body.get("model", ""))) is not None:
            return await self._fault(request, fault)
        reply = self.replies.pop(0) if self.replies else StubReply(text="(stub has no reply)")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> None:
            chunk = {
                "id": "chatcmpl-stub",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model", "stub"),
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
                if delta is not None
                else [],
            }
            if usage is not None:
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        for word in reply.text.split(" ") if reply.text else []:
            await send({"content": word + " "})
        for i, (name, args) in enumerate(reply.tool_calls):
            await send(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{len(self.requests)}_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                    ]
                }
            )
        await send({}, finish="tool_calls" if reply.tool_calls else "stop")
        await send(
            None,
            usage={
                "prompt_tokens": 1200,
                "completion_tokens": 20,  # type: ignore[arg-type]
                "total_tokens": 1220,
                "prompt_tokens_details": {"cached_tokens": 1024},
            },
        )
        await resp.write(b"data: [DONE]\n\n")
        return resp


@asynccontextmanager
async def serve(stub: OpenAIStub) -> AsyncIterator[OpenAIStub]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", stub._chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stub.url = f"http://127.0.0.1:{port}/v1"
    try:
        yield stub
    finally:
        stub._release.set()
        await runner.cleanup()
