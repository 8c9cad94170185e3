"""A local OpenAI-compatible chat-completions server for tests: streams scripted replies.

It speaks the real wire format (SSE `chat.completion.chunk` objects, tool-call deltas, a final
usage chunk), so the OpenAI plugin's own client code runs unchanged against it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class StubReply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class OpenAIStub:
    replies: list[StubReply]
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("Authorization", "") == "":
            return web.json_response({"error": {"message": "no key"}}, status=401)
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
        await runner.cleanup()
