"""Bounded context: what the model sees of a long call.

Every request sends the whole conversation, so a long call costs more per turn and answers more
slowly. The policy keeps the instructions, a short summary of the earlier turns, the last few
turns verbatim, and the latest result of every tool even when its turn is older (the ids a
tool returned are still needed by the next one).

Old turns are dropped `step` at a time, not one per turn: between two cuts everything before
the newest turns stays byte-identical, so a provider's prompt cache keeps working. Cutting one
turn per request would change the summary, right after the instructions, on every request and
void the cache (measured: a 30-turn call then cost more trimmed than untrimmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # settings import this module; commands without a worker skip the framework
    from livekit.agents import llm

SUMMARY_HEADER = "Earlier in this call (summary of older turns):"
_LINE_CHARS = 160


@dataclass(frozen=True)
class ContextPolicy:
    max_turns: int = 6  # caller turns always kept word for word; 0 keeps everything
    summary_chars: int = 800
    step: int = 4  # old turns leave in blocks of this many, keeping the prefix cacheable

    @property
    def enabled(self) -> bool:
        return self.max_turns > 0


def _is_instruction(item: llm.ChatItem) -> bool:
    return item.type == "message" and item.role in ("system", "developer")


def _summary_line(item: llm.ChatMessage) -> str:
    text = " ".join((item.text_content or "").split())
    if len(text) > _LINE_CHARS:
        text = text[: _LINE_CHARS - 1].rstrip() + "…"
    who = "Caller" if item.role == "user" else "Agent"
    return f"- {who}: {text}"


def summarize(items: list[llm.ChatItem], limit: int) -> str | None:
    lines = [
        _summary_line(i)
        for i in items
        if i.type == "message" and i.role in ("user", "assistant") and i.text_content
    ]
    if not lines:
        return None
    # The most recent of the old turns matter most: drop from the front to fit.
    kept: list[str] = []
    size = len(SUMMARY_HEADER)
    for line in reversed(lines):
        if size + len(line) + 1 > limit:
            kept.append("- (older lines left out)")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join([SUMMARY_HEADER, *reversed(kept)])


def trim_context(chat_ctx: llm.ChatContext, policy: ContextPolicy) -> llm.ChatContext:
    """A trimmed copy; the original (the session's history) is never changed."""
    from livekit.agents import llm

    items = list(chat_ctx.items)
    user_idx = [i for i, it in enumerate(items) if it.type == "message" and it.role == "user"]
    step = max(1, policy.step)
    dropped = (len(user_idx) - policy.max_turns) // step * step
    if not policy.enabled or dropped <= 0:
        return chat_ctx
    # Between max_turns and max_turns + step - 1 turns stay; the cut moves only every `step`.
    cut = user_idx[dropped]
    head = [it for it in items[:cut] if _is_instruction(it)]
    old = [it for it in items[:cut] if not _is_instruction(it)]
    recent = items[cut:]

    # The latest old output of each tool, with its call. Kept even if a recent turn called the
    # tool again: it depends on the old turns only, so the prefix stays stable between cuts.
    keep_ids: set[str] = set()
    latest: dict[str, llm.FunctionCallOutput] = {}
    for it in old:
        if it.type == "function_call_output":
            latest[it.name] = it
    for out in latest.values():
        keep_ids.add(out.call_id)
    carried = [
        it
        for it in old
        if it.type in ("function_call", "function_call_output") and it.call_id in keep_ids
    ]

    summary = summarize(old, policy.summary_chars)
    out_items: list[llm.ChatItem] = [*head]
    if summary:
        out_items.append(llm.ChatMessage(role="system", content=[summary]))
    out_items += carried + recent
    return llm.ChatContext(out_items)
