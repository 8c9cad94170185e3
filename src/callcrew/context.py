"""Bounded context: what the model sees of a long call.

Every request sends the whole conversation, so a long call costs more per turn and answers more
slowly. The policy keeps the instructions (the cacheable prefix), a short summary of the
earlier turns, the last few turns verbatim, and the latest result of every tool even when its
turn is older (slot ids and appointment ids in them are still needed).
"""

from __future__ import annotations

from dataclasses import dataclass

from livekit.agents import llm

SUMMARY_HEADER = "Earlier in this call (summary of older turns):"
_LINE_CHARS = 160


@dataclass(frozen=True)
class ContextPolicy:
    max_turns: int = 6  # caller turns kept word for word; 0 keeps everything
    summary_chars: int = 800

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
    items = list(chat_ctx.items)
    user_idx = [i for i, it in enumerate(items) if it.type == "message" and it.role == "user"]
    if not policy.enabled or len(user_idx) <= policy.max_turns:
        return chat_ctx
    cut = user_idx[len(user_idx) - policy.max_turns]
    head = [it for it in items[:cut] if _is_instruction(it)]
    old = [it for it in items[:cut] if not _is_instruction(it)]
    recent = items[cut:]

    # The latest output of each tool that the recent turns don't already hold, with its call.
    recent_tools = {it.name for it in recent if it.type == "function_call_output"}
    keep_ids: set[str] = set()
    latest: dict[str, llm.FunctionCallOutput] = {}
    for it in old:
        if it.type == "function_call_output" and it.name not in recent_tools:
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
