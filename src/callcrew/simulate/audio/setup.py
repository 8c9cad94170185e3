"""What an audio rehearsal runs with: its options, turn-taking, shared VAD and line-tracking LLM."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit.agents import llm, vad
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.voice.turn import TurnHandlingOptions

from callcrew.providers.session import load_vad, turn_handling
from callcrew.settings import Settings
from callcrew.simulate.replay import ReplayLLM, ReplayScript
from callcrew.turn_defaults import TURN_DEFAULTS, stt_kind

DEFAULT_PAUSE_S = 0.8  # a caller's natural pause before answering


@dataclass
class AudioOptions:
    wav: Path | None = None  # default: var/rehearsals/<scenario>.wav
    caller_voice: str = "en-us"
    caller_wpm: int = 150
    pause_s: float = DEFAULT_PAUSE_S
    turn_timeout_s: float = 30.0
    min_interruption_words: int | None = None  # None: MIN_INTERRUPTION_WORDS from settings
    # Gate the STT input with its own VAD (providers/gated_stt.py), as a streaming STT would be:
    # measures what the gate costs in words and turn gap (bench/cost_audio.py).
    stt_gate: bool = False
    # --caller-llm: each scripted line's words come from this caller (simulate/caller_llm.py),
    # asked right before the line with what the agent just said; timing fields stay scripted.
    caller: Any = None


def rehearsal_settings(settings: Settings) -> Settings:
    """The rehearsal always runs the local Whisper, a batch STT: its turn-taking is the local
    stack's (TURN_DEFAULTS["batch"]), whatever the stack, except the values set explicitly
    (environment, .env, arguments), which win as everywhere."""
    if stt_kind(settings.stack, settings.stt) == "batch":
        return settings
    given = settings.turn_values_given
    batch = {k: v for k, v in TURN_DEFAULTS["batch"].items() if k not in given}
    return settings.model_copy(update=batch) if batch else settings


def rehearsal_turn_handling(
    settings: Settings,
    min_interruption_words: int = 2,
    list_nouns: frozenset[str] = frozenset(),
) -> TurnHandlingOptions:
    """The call's own turn-taking, preemptive generation included (the replay LLM answers a
    turn's preemptive and final requests alike: `LineTrackingReplay`).

    `min_interruption_words`: while the agent speaks, the caller's speech interrupts it only
    once the STT has heard this many words. With a non-streaming STT (Whisper) there is no
    transcript until the caller pauses, so 2 words means a one-word backchannel ("mm-hmm",
    "right") never cuts the agent off, at the price of a barge-in stopping the agent only once
    the caller's words are transcribed (see docs/benchmarks.md). 0 restores VAD barge-in.
    `list_nouns`: the crew's words for a list question (`Crew.list_nouns`).
    """
    opts = turn_handling(settings, list_nouns=list_nouns)
    interruption = dict(opts.get("interruption") or {})
    interruption["min_words"] = min_interruption_words
    opts["interruption"] = interruption  # type: ignore[typeddict-item]
    return opts


_vad_cache: dict[tuple[float, float], vad.VAD] = {}


def shared_vad(settings: Settings) -> vad.VAD:
    """One Silero VAD per process and setting, as the worker's prewarm does."""
    key = (settings.vad_min_silence, settings.vad_activation_threshold)
    if key not in _vad_cache:
        _vad_cache[key] = load_vad(settings)
    return _vad_cache[key]


class LineTrackingReplay(ReplayLLM):
    """The replay LLM, turned to the next caller line whenever the session commits a new turn.

    In text mode the runner knows when each line is sent; with audio the session decides when
    the caller's turn ended, so the script advances when a request carries a new caller turn.

    A request with a caller message not seen before is a new turn only if what came before
    that message is new too: LiveKit's preemptive generation asks the model on the caller's
    words before the turn is committed, each time in a message of its own, and a second
    request on the same history is the same turn heard again (the same scripted step, see
    `request_position`). A line counts as committed (`committed`) once the session puts its
    message into the conversation (`item_added`), not when the model is first asked: a
    preemptive request can come while the caller is still speaking.
    """

    def __init__(self, script: ReplayScript, reply_lines: list[int]) -> None:
        super().__init__(script)
        self._pending = deque(reply_lines)
        self._seen: set[str] = set()
        self._turn_after: dict[str | None, int] = {}  # the item before a turn's message -> line
        self.committed: dict[int, asyncio.Event] = {i: asyncio.Event() for i in reply_lines}
        self.message_line: dict[str, int] = {}
        self.unexpected_turns: list[str] = []
        self._added: set[str] = set()  # caller messages the session put in the conversation

    def item_added(self, item: llm.ChatItem) -> None:
        """The session's `conversation_item_added`: a caller message there is a committed turn."""
        if item.type == "message" and item.role == "user":
            self._added.add(item.id)
            self._mark_committed(item.id)

    def _mark_committed(self, message_id: str) -> None:
        if message_id in self._added and (line := self.message_line.get(message_id)) is not None:
            self.committed[line].set()

    def request_position(self, chat_ctx: llm.ChatContext, offered: list[str]) -> Any:
        """Where the request stands in its turn: the agent asking (its tools) and what the
        model already did since the caller's message (tool calls, replies)."""
        after = _after_last_caller(chat_ctx.items)
        calls = sum(1 for item in after if item.type == "function_call")
        replies = sum(1 for i in after if i.type == "message" and i.role == "assistant")
        return (tuple(offered), calls, replies)

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
        items = chat_ctx.items
        at = _last_caller_at(items)
        if at is not None and items[at].id not in self._seen:
            last_user = items[at]
            self._seen.add(last_user.id)
            before = _history_mark(items[:at])
            if before in self._turn_after:
                self.message_line[last_user.id] = self._turn_after[before]
            elif self._pending:
                line = self._pending.popleft()
                self._turn_after[before] = line
                self.message_line[last_user.id] = line
                self.script.begin_turn(line)
            else:
                self.unexpected_turns.append(last_user.text_content or "")  # type: ignore[union-attr]
            self._mark_committed(last_user.id)
        return super().chat(
            chat_ctx=chat_ctx,
            tools=tools,
            conn_options=conn_options,
            parallel_tool_calls=parallel_tool_calls,
            tool_choice=tool_choice,
            extra_kwargs=extra_kwargs,
        )


def _last_caller_at(items: list[llm.ChatItem]) -> int | None:
    """The index of the last caller message, if any."""
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        if item.type == "message" and item.role == "user":
            return i
    return None


def _after_last_caller(items: list[llm.ChatItem]) -> list[llm.ChatItem]:
    at = _last_caller_at(items)
    return items if at is None else items[at + 1 :]


def _history_mark(items: list[llm.ChatItem]) -> str | None:
    """The last item of the conversation proper before a caller message (instructions the
    agent adds around it do not count): what one turn's requests have in common."""
    for item in reversed(items):
        if item.type == "message" and item.role in ("system", "developer"):
            continue
        if item.type in ("message", "function_call", "function_call_output"):
            return item.id
    return None
