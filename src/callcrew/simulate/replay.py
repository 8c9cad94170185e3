"""The replay LLM: a real `llm.LLM` that answers from a scenario's script.

Each `chat()` call takes the next scripted response of the current caller turn and streams it
as the provider plugins do (text deltas, tool calls, a final usage chunk), so the session, the
tools, the metrics and the cost code run exactly as they do in production.

Token counts are estimated (about four characters a token), and cached input follows the rule
of OpenAI-style prompt caching: the prefix shared with the previous request is cached in
128-token blocks once a prompt reaches 1,024 tokens. That keeps cost figures honest in
rehearsals: a prompt whose static part changes between turns gets no cache discount.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)

from callcrew.simulate.steps import AgentStep

CHARS_PER_TOKEN = 4
CACHE_MIN_TOKENS = 1024
CACHE_BLOCK_TOKENS = 128


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def render_request(chat_ctx: llm.ChatContext, tools: list[llm.Tool]) -> str:
    """A stable text form of what a provider would receive, for token estimates."""
    parts: list[str] = []
    for tool in tools:
        info = getattr(tool, "info", None)
        if info is not None:
            parts.append(f"tool {info.name}: {info.description or ''}")
    for item in chat_ctx.items:
        if item.type == "message":
            parts.append(f"{item.role}: {item.text_content or ''}")
        elif item.type == "function_call":
            parts.append(f"call {item.name}({item.arguments})")
        elif item.type == "function_call_output":
            parts.append(f"result {item.name}: {item.output}")
    return "\n".join(parts)


def cached_tokens(previous: str | None, current: str) -> int:
    if not previous:
        return 0
    common = 0
    for a, b in zip(previous, current, strict=False):
        if a != b:
            break
        common += 1
    prefix_tokens = common // CHARS_PER_TOKEN
    if estimate_tokens(current) < CACHE_MIN_TOKENS or prefix_tokens < CACHE_MIN_TOKENS:
        return 0
    return (prefix_tokens // CACHE_BLOCK_TOKENS) * CACHE_BLOCK_TOKENS


@dataclass
class ReplayCall:
    """One request the session made, and what the script answered."""

    turn: int
    tools_offered: list[str]
    step: AgentStep | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    request: str = ""  # what the model was sent, as text (see render_request)


@dataclass
class ReplayScript:
    """Scripted responses per caller turn; turn -1 is before the caller first speaks."""

    turns: dict[int, list[AgentStep]]
    ttft_s: float = 0.0
    tokens_per_s: float = 0.0
    current_turn: int = -1
    problems: list[str] = field(default_factory=list)
    calls: list[ReplayCall] = field(default_factory=list)
    _queues: dict[int, list[AgentStep]] = field(default_factory=dict)
    # (turn, position) -> the step already given there (see `next_step`'s `position`)
    _answered: dict[tuple[int, Any], AgentStep | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._queues = {t: list(steps) for t, steps in self.turns.items()}

    def begin_turn(self, turn: int) -> None:
        self.finish_turn()
        self.current_turn = turn

    def finish_turn(self) -> None:
        left = self._queues.get(self.current_turn, [])
        if left:
            where = _turn_name(self.current_turn)
            self.problems.append(
                f"{where}: {len(left)} scripted agent response(s) were never used "
                f"(first unused: {left[0].describe()}); the crew took a different path"
            )
            self._queues[self.current_turn] = []

    def next_step(
        self,
        tools_offered: list[str],
        params: dict[str, set[str]] | None = None,
        last_error: bool | None = None,
        position: Any = None,
    ) -> AgentStep | None:
        """The next scripted response; a branch step is replaced by the list matching
        `last_error` (the last tool result the model saw was an error; None: no tool ran).

        `position`: where in the turn the request stands (see `LineTrackingReplay`); a second
        request at a position already answered gets the same step again, as a model asked the
        same question would answer it (LiveKit's preemptive generation asks before the turn is
        committed, and again when the caller's final words differ)."""
        key = (self.current_turn, position)
        if position is not None and key in self._answered:
            return self._answered[key]
        step = self._take(tools_offered, params, last_error)
        if position is not None:
            self._answered[key] = step
        return step

    def _take(
        self,
        tools_offered: list[str],
        params: dict[str, set[str]] | None,
        last_error: bool | None,
    ) -> AgentStep | None:
        queue = self._queues.setdefault(self.current_turn, [])
        where = _turn_name(self.current_turn)
        while queue and queue[0].is_branch:
            branch = queue.pop(0)
            if last_error is None:
                self.problems.append(
                    f"{where}: a when_ok/when_error step came before any tool result; "
                    "it followed when_ok"
                )
            queue[0:0] = branch.branch(bool(last_error))
        if not queue:
            self.problems.append(
                f"{where}: the agent asked the model for another response but the script has "
                f"none left (tools offered: {', '.join(tools_offered) or 'none'})"
            )
            return None
        step = queue.pop(0)
        for call in step.tool_calls():
            if call.name not in tools_offered:
                self.problems.append(
                    f"{where}: scripted tool call {call.name!r} is not a tool of the current "
                    f"agent (it has: {', '.join(tools_offered) or 'none'})"
                )
            elif params is not None and call.name in params:
                # The framework silently drops arguments a tool doesn't declare: a typo would
                # make the scenario test something other than what it says.
                unknown = sorted(set(call.args) - params[call.name])
                if unknown:
                    known = ", ".join(sorted(params[call.name])) or "none"
                    self.problems.append(
                        f"{where}: {call.name}() has no argument(s) {', '.join(unknown)} "
                        f"(it takes: {known})"
                    )
        return step


def _turn_name(turn: int) -> str:
    return "before the first caller line" if turn < 0 else f"caller line {turn + 1}"


_ids = itertools.count(1)


def last_tool_error(chat_ctx: llm.ChatContext) -> bool | None:
    """Whether the last tool result in the request was an error; None when there is none."""
    for item in reversed(chat_ctx.items):
        if item.type == "function_call_output":
            return bool(item.is_error)
    return None


def _tool_params(tools: list[llm.Tool]) -> dict[str, set[str]]:
    """Argument names the model may send to each function tool (not `self` or the context)."""
    out: dict[str, set[str]] = {}
    for tool in tools:
        func = getattr(tool, "_func", None)
        info = getattr(tool, "info", None)
        if func is None or info is None:
            continue
        names = set()
        for p in inspect.signature(func).parameters.values():
            annotation = str(p.annotation)
            if p.name == "self" or "RunContext" in annotation:
                continue
            names.add(p.name)
        out[info.name] = names
    return out


class ReplayLLM(llm.LLM[Any]):
    def __init__(self, script: ReplayScript) -> None:
        self.script = script
        self._last_request: str | None = None
        super().__init__()

    @property
    def model(self) -> str:
        return "replay"

    @property
    def provider(self) -> str:
        return "callcrew"

    def request_position(self, chat_ctx: llm.ChatContext, offered: list[str]) -> Any:
        """None: every request takes the script's next step (text rehearsals, where each
        request is a new one)."""
        return None

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        tools = tools or []
        offered = [t.info.name for t in tools if hasattr(t, "info")]
        step = self.script.next_step(
            offered,
            _tool_params(tools),
            last_tool_error(chat_ctx),
            position=self.request_position(chat_ctx, offered),
        )
        request = render_request(chat_ctx, tools)
        input_tokens = estimate_tokens(request)
        cached = cached_tokens(self._last_request, request)
        self._last_request = request
        output_tokens = estimate_tokens(step.output_text()) if step else 0
        self.script.calls.append(
            ReplayCall(
                self.script.current_turn,
                offered,
                step,
                input_tokens,
                cached,
                output_tokens,
                request,
            )
        )
        return _ReplayStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools,
            conn_options=conn_options,
            step=step,
            usage=llm.CompletionUsage(
                completion_tokens=output_tokens,
                prompt_tokens=input_tokens,
                prompt_cached_tokens=cached,
                total_tokens=input_tokens + output_tokens,
            ),
        )


class _ReplayStream(llm.LLMStream):
    def __init__(
        self,
        replay: ReplayLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        step: AgentStep | None,
        usage: llm.CompletionUsage,
    ) -> None:
        super().__init__(replay, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._step = step
        self._usage = usage
        self._script = replay.script

    async def _run(self) -> None:
        request_id = f"replay-{next(_ids)}"
        if self._script.ttft_s:
            await asyncio.sleep(self._script.ttft_s)
        if self._step is not None:
            if self._step.say:
                words = self._step.say.split(" ")
                for i, word in enumerate(words):
                    if i and self._script.tokens_per_s:
                        await asyncio.sleep(1 / self._script.tokens_per_s)
                    text = word if i == len(words) - 1 else word + " "
                    self._event_ch.send_nowait(
                        llm.ChatChunk(
                            id=request_id, delta=llm.ChoiceDelta(role="assistant", content=text)
                        )
                    )
            for call in self._step.tool_calls():
                self._event_ch.send_nowait(
                    llm.ChatChunk(
                        id=request_id,
                        delta=llm.ChoiceDelta(
                            role="assistant",
                            tool_calls=[
                                llm.FunctionToolCall(
                                    name=call.name,
                                    arguments=json.dumps(call.args),
                                    call_id=f"call_{next(_ids)}",
                                )
                            ],
                        ),
                    )
                )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=self._usage))
