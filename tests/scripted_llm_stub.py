"""A local OpenAI-compatible server that plays every side of an evaluated call by rules:
the caller (from its persona prompt), the crew's model (from its tools and the tool results),
the judge (from the criteria and the transcript it is sent) and the post-call analyst (from
the schema and transcript it is sent).

Nothing is queued: each reply is decided from the request alone, so a request that lacks what
the real thing needs (no persona, no tool outputs, no transcript, no schema) gets a reply that
makes the test fail. Token usage is reported as ~4 characters a token of the real request, so
the priced costs in a test are the order of magnitude a real endpoint would bill.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TIME_RE = re.compile(r"\b(\d{1,2})(?::(\d\d))?\s?(am|pm)\b", re.I)
SLOT_LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d(?:[+-]\d\d:\d\d)?): (.+)$", re.M)


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _text(msg: dict[str, Any]) -> str:
    content = msg.get("content")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def _tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["function"]["name"]: t["function"] for t in body.get("tools") or []}


def _times(text: str) -> set[str]:
    return {f"{int(h)}:{m or '00'}{ap.lower()}" for h, m, ap in TIME_RE.findall(text)}


def role_of(body: dict[str, Any]) -> str:
    tools = _tools(body)
    system = _text(body["messages"][0]) if body.get("messages") else ""
    if "submit_verdict" in tools:
        return "judge"
    if "submit_analysis" in tools:
        return "analysis"
    if system.startswith("You are role-playing a person"):
        return "caller"
    if tools.keys() & {"hand_off_to_desk", "find_free_slots", "wrap_up", "end_call"}:
        return "desk"
    return "unknown"


# --- the caller ------------------------------------------------------------------------------


def caller(body: dict[str, Any]) -> Reply:
    system = _text(body["messages"][0])
    persona = re.search(r"You are ([A-Z][a-z]+ [A-Z][a-z]+)", system.split("\n", 1)[-1])
    if persona is None:
        return Reply("Um, sorry, who am I?")
    name = persona.group(1)
    heard = _text(body["messages"][-1])
    low = heard.lower()
    if "anything else" in low or "goodbye" in low:
        return Reply("No, that's all. Thanks, bye!", [("end_call", {"reason": "done"})])
    if "how can i help" in low:
        opener = re.search(r'asking directly, "([^"]+)"', system)
        ask = opener.group(1) if opener else "I'd like to book a haircut."
        return Reply(f"Hi, this is {name}. {ask}")
    if "name" in low and "?" in heard:
        return Reply(f"It's {name}.")
    if "nothing free" in low or "no free" in low:
        return Reply("Oh well, I'll call back another time. Bye.", [("end_call", {"reason": "x"})])
    offered = _times(heard)
    if offered and re.search(r"Turn down every|Reject every", system):
        refusals = sum(
            1 for m in body["messages"] if m.get("role") == "assistant" and "only" in _text(m)
        )
        if refusals >= 2:
            return Reply("Forget it then. Bye.", [("end_call", {"reason": "gave up"})])
        return Reply("No, that's no good, only 8 am works for me. Just fit me in.")
    if offered:
        wanted = re.search(r"Pick the (\d{1,2}(?::\d\d)?\s?[AP]M) slot", system)
        if wanted and _times(wanted.group(1)) & offered:
            return Reply(f"The {wanted.group(1)} one, please.")
        return Reply("The first one, please.")
    return Reply("Sorry, could you say that again?")


# --- the crew's model ------------------------------------------------------------------------


def _tool_results(messages: list[dict[str, Any]]) -> list[str]:
    return [_text(m) for m in messages if m.get("role") == "tool"]


def desk(body: dict[str, Any]) -> Reply:
    tools = _tools(body)
    messages = body["messages"]
    last = messages[-1]
    said = _text(last) if last.get("role") == "user" else ""
    if "hand_off_to_desk" in tools:
        m = re.search(r"(?:this is|I'm|name is) ([A-Z][a-z]+(?: [A-Z][a-z]+)?)", said)
        if m is None:
            return Reply("May I have your name, please?")
        return Reply(tool_calls=[("hand_off_to_desk", {"caller_name": m.group(1), "reason": said})])
    if "find_free_slots" in tools:
        results = _tool_results(messages)
        if last.get("role") == "tool":
            out = _text(last)
            if out.startswith("Booked appointment"):
                return Reply(tool_calls=[("wrap_up", {})])
            slots = SLOT_LINE_RE.findall(out)
            if slots:
                return Reply("I have " + ", or ".join(s for _, s in slots) + ". Which suits you?")
            return Reply(out.split("\n")[0])
        offered = next(
            (SLOT_LINE_RE.findall(r) for r in reversed(results) if SLOT_LINE_RE.search(r)), []
        )
        if offered and ("first one" in said.lower() or _times(said)):
            wanted = _times(said)
            picked = [i for i, s in offered if _times(s) & wanted]
            if wanted and not picked:
                listed = ", or ".join(s for _, s in offered)
                return Reply(f"I'm sorry, that time isn't free. I have {listed}.")
            slot_id = picked[0] if picked else offered[0][0]
            return Reply(
                tool_calls=[("book_appointment", {"service": "haircut", "slot_id": slot_id})]
            )
        day = re.search(r"(June|July) (\d{1,2})", said)
        args: dict[str, Any] = {"service": "haircut"}
        if day:
            month = 6 if day.group(1) == "June" else 7
            args["day"] = f"2026-{month:02d}-{int(day.group(2)):02d}"
        return Reply(tool_calls=[("find_free_slots", args)])
    if "end_call" in tools:
        if re.search(r"\b(bye|that's all)\b", said.lower()):
            return Reply(tool_calls=[("end_call", {})])
        return Reply("You're all set. Is there anything else?")
    return Reply("(desk stub: no rule for these tools)")


# --- the judge -------------------------------------------------------------------------------


def judge(body: dict[str, Any]) -> Reply:
    prompt = _text(body["messages"][-1])
    if "Conversation:" not in prompt:
        return _verdict("fail", "the request carried no conversation")
    criteria, convo = prompt.split("Conversation:", 1)
    lines = convo.strip().splitlines()
    agent = " ".join(ln for ln in lines if ln.startswith(("assistant:", "agent:")))
    # A tool output may span lines: everything that is not a spoken line counts as output.
    spoken = ("assistant:", "agent:", "user:", "caller:", "[function call")
    outputs = " ".join(ln for ln in lines if not ln.startswith(spoken))
    if not any(ln.startswith(("user:", "caller:")) for ln in lines):
        return _verdict("fail", "no caller lines in the conversation")
    booked = "Booked appointment" in outputs
    if "Every appointment time" in criteria:
        invented = sorted(_times(agent) - _times(outputs))
        if invented:
            return _verdict("fail", f"the agent offered {', '.join(invented)}, no tool listed it")
        return _verdict("pass", "every time the agent named came from a tool output")
    if "The scenario expects" in criteria:
        must_not = re.search(r"not book|nothing booked|no booking", criteria)
        ok = not booked if must_not else booked
        return _verdict("pass" if ok else "fail", f"booking made: {booked}")
    if "completed its goal" in criteria:
        declined = "Nothing free" in outputs or "Forget it" in convo
        ok = booked or declined
        return _verdict("pass" if ok else "fail", f"booking made: {booked}, none free: {declined}")
    return _verdict("pass", "nothing against the criteria")


def _verdict(verdict: str, reasoning: str) -> Reply:
    return Reply(tool_calls=[("submit_verdict", {"verdict": verdict, "reasoning": reasoning})])


# --- the analyst -----------------------------------------------------------------------------


def analyst(body: dict[str, Any]) -> Reply:
    prompt = _text(body["messages"][-1])
    schema = _tools(body)["submit_analysis"]["parameters"]
    fields = schema["properties"]["data"]["properties"]
    if "Transcript:" not in prompt:
        return Reply("no transcript")
    booked = "Booked appointment" in prompt
    first = next((ln[8:] for ln in prompt.splitlines() if ln.startswith("caller: ")), "")
    data: dict[str, Any] = {}
    for key, spec in fields.items():
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        if "boolean" in kinds:
            data[key] = booked if "book" in key else False
        elif "service" in key:
            data[key] = "haircut" if "haircut" in prompt else None
        else:
            data[key] = None
    args = {
        "summary": f"The caller said: {first}",
        "success": booked,
        "success_reason": "an appointment was booked" if booked else "nothing was booked",
        "data": data,
    }
    return Reply(tool_calls=[("submit_analysis", args)])


RULES = {"caller": caller, "desk": desk, "judge": judge, "analysis": analyst}


@dataclass
class ScriptedLLM:
    """Serve it with `serve()`; `requests` keeps (role, body) of everything received."""

    delay_s: dict[str, float] = field(default_factory=dict)  # a slow role, for timeouts
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def of(self, role: str) -> list[dict[str, Any]]:
        return [b for r, b in self.requests if r == role]

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        role = role_of(body)
        self.requests.append((role, body))
        if role == "unknown" or not request.headers.get("Authorization"):
            return web.json_response({"error": {"message": f"no rule for {role}"}}, status=400)
        if delay := self.delay_s.get(role):
            await asyncio.sleep(delay)
        reply = RULES[role](body)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(
            delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None
        ) -> None:
            chunk: dict[str, Any] = {
                "id": "chatcmpl-scripted",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body.get("model", "stub"),
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                chunk["usage"] = usage
            await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())

        await send({"role": "assistant", "content": ""})
        if reply.text:
            await send({"content": reply.text})
        for i, (name, args) in enumerate(reply.tool_calls):
            call = {"name": name, "arguments": json.dumps(args)}
            await send(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": f"call_{len(self.requests)}_{i}",
                            "type": "function",
                            "function": call,
                        }
                    ]
                }
            )
        await send({}, finish="tool_calls" if reply.tool_calls else "stop")
        prompt = math.ceil(
            len(json.dumps(body.get("messages"))) / 4 + len(json.dumps(body.get("tools") or [])) / 4
        )
        completion = math.ceil((len(reply.text) + len(json.dumps(reply.tool_calls))) / 4)
        await send(
            None,
            usage={
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        )
        await resp.write(b"data: [DONE]\n\n")
        return resp


@asynccontextmanager
async def serve(stub: ScriptedLLM) -> AsyncIterator[ScriptedLLM]:
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


@contextmanager
def serve_in_thread(stub: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The stub on its own event loop in a thread, for code that runs `asyncio.run` itself
    (the CLI runs one loop per scenario)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Future[None] | None = None

    async def main() -> None:
        nonlocal stop
        stop = loop.create_future()
        async with serve(stub):
            ready.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield stub
    finally:
        loop.call_soon_threadsafe(lambda: stop is not None and stop.set_result(None))
        thread.join(10)
        loop.close()
