"""What the caller hears while we recover: a filler when the first LLM token is late, and an
apology, an offer and a clean ending when every provider of a block has failed.

The filler rides inside the reply itself (`RecoveringLLM`): LiveKit plays one speech at a time,
so a separate `say()` would queue behind the very reply that is late. LiveKit's own
`voice/filler_scheduler.py` does not fit here: it serves a running tool call and stays quiet
while the agent is "thinking", which is exactly the state of a late first token. The phrase is
flushed to the TTS as its own segment, so it is spoken at once rather than held by the sentence
tokenizer until the rest of the reply arrives.

When the LLM chain fails entirely the reply ends empty (no error reaches the session, which
would otherwise close after a few of them) and `ProviderRecovery` runs the crew's plan: the
apology (from the phrase cache when it holds it: the TTS may be the block that failed), then a
transfer or a hang-up. STT and TTS chains that fail entirely surface as the session's
unrecoverable `error` events, and lead to the same plan.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from livekit.agents import FlushSentinel, llm
from livekit.agents.types import (
    DEFAULT_API_CONNECT_OPTIONS,
    NOT_GIVEN,
    APIConnectOptions,
    NotGivenOr,
)
from livekit.agents.utils import aio

from callcrew.call import CallState, Outcome, ProviderFailurePlan
from callcrew.endings import EndedBy
from callcrew.metrics.report import BlockKind
from callcrew.providers.fallback import Chain, ProviderLog, describe_error
from callcrew.providers.phrase_tts import PhraseTTS
from callcrew.providers.phrases import PhraseCache, say_phrase

if TYPE_CHECKING:
    from livekit.agents import AgentSession

logger = logging.getLogger("callcrew.recovery")

# Bounds the apology's playout: a TTS that hangs on it must not keep the line open.
APOLOGY_TIMEOUT_S = 15.0
_ERROR_KINDS: dict[str, BlockKind] = {"stt_error": "stt", "tts_error": "tts", "llm_error": "llm"}


class RecoveringLLM(llm.LLM[Any]):
    """The session's LLM: the chain, plus the filler and the all-failed ending.

    `filler_text` and `on_failure` are bound per call by `ProviderRecovery.attach`.
    """

    def __init__(self, chain: Chain, *, filler_after: float) -> None:
        super().__init__()
        self.chain = chain
        self.inner: llm.LLM[Any] = chain.engine
        self.filler_after = filler_after
        self.filler_text: str | None = "One moment, please."
        self.on_failure: Callable[[str, bool], None] | None = None
        self.inner.on("metrics_collected", self._forward_metrics)

    def _forward_metrics(self, *args: Any, **kwargs: Any) -> None:
        self.emit("metrics_collected", *args, **kwargs)

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def provider(self) -> str:
        return self.inner.provider

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
        return _RecoveringStream(
            self,
            chat_ctx=chat_ctx,
            tools=tools or [],
            # The chain retries; retrying the whole chain again (the session's default is 3
            # more tries) is what turned one hanging endpoint into 40 s of silence.
            conn_options=dataclasses.replace(conn_options, max_retry=0),
            parallel_tool_calls=parallel_tool_calls,
            tool_choice=tool_choice,
            extra_kwargs=extra_kwargs,
        )

    def prewarm(self, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.inner.prewarm(loop=loop)

    async def aclose(self) -> None:
        self.inner.off("metrics_collected", self._forward_metrics)
        await self.inner.aclose()


class _RecoveringStream(llm.LLMStream):
    def __init__(
        self,
        owner: RecoveringLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
        parallel_tool_calls: NotGivenOr[bool],
        tool_choice: NotGivenOr[llm.ToolChoice],
        extra_kwargs: NotGivenOr[dict[str, Any]],
    ) -> None:
        super().__init__(owner, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._owner = owner
        self._parallel = parallel_tool_calls
        self._tool_choice = tool_choice
        self._extra = extra_kwargs

    async def _metrics_monitor_task(self, event_aiter: Any) -> None:
        async for _ in event_aiter:  # the chain's members report their own metrics
            pass

    def _send_filler(self) -> bool:
        text = self._owner.filler_text
        if not text:
            return False
        self._event_ch.send_nowait(
            llm.ChatChunk(
                id="callcrew-filler", delta=llm.ChoiceDelta(role="assistant", content=text + " ")
            )
        )
        # Its own TTS segment: spoken now, not held until the reply's first sentence is done.
        # (Past the channel's own send_nowait, which reads `.delta` of what it is given.)
        aio.Chan.send_nowait(cast(Any, self._event_ch), FlushSentinel())
        return True

    async def _run(self) -> None:
        owner = self._owner
        loop = asyncio.get_running_loop()
        deadline = loop.time() + owner.filler_after if owner.filler_after > 0 else None
        answered = False  # a chunk the caller can see (text or a tool call) has arrived
        try:
            async with owner.inner.chat(
                chat_ctx=self._chat_ctx,
                tools=self._tools,
                conn_options=self._conn_options,
                parallel_tool_calls=self._parallel,
                tool_choice=self._tool_choice,
                extra_kwargs=self._extra,
            ) as inner:
                events = inner.__aiter__()
                while True:
                    pending = asyncio.ensure_future(events.__anext__())
                    try:
                        if not answered and deadline is not None:
                            done, _ = await asyncio.wait(
                                {pending}, timeout=max(0.0, deadline - loop.time())
                            )
                            if not done:
                                self._send_filler()
                                deadline = None
                        chunk = await pending
                    except StopAsyncIteration:
                        break
                    finally:
                        if not pending.done():
                            pending.cancel()
                    answered = answered or chunk.has_response()
                    self._event_ch.send_nowait(chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Never raised to the session: it would count it and close the call in silence.
            if owner.on_failure is not None:
                owner.on_failure(describe_error(exc), answered)
            else:
                logger.error("LLM chain failed: %s", describe_error(exc))


def callback_or_transfer(state: CallState) -> ProviderFailurePlan:
    """The engine's default plan (a crew may choose otherwise): a person if the profile names
    one and the line can be transferred, otherwise a call-back from the number we have."""
    p = state.profile
    if p.transfer_number and state.control.can_transfer:
        return ProviderFailurePlan(
            say=f"{p.technical_trouble} Let me put you through to a colleague.",
            transfer_to=p.transfer_number,
            action="transfer",
        )
    if state.info.caller_number:
        return ProviderFailurePlan(
            say=(
                f"{p.technical_trouble} I've noted your number, and someone from {p.name} will "
                "call you back shortly. Goodbye."
            ),
            action="callback",
        )
    return ProviderFailurePlan(
        say=f"{p.technical_trouble} Please call us again in a few minutes. Goodbye.",
        action="hang_up",
    )


def crew_failure_plan(crew: Any) -> Callable[[CallState, str], ProviderFailurePlan]:
    """The crew's `on_provider_failure` if it has one (the hook is optional), else ours."""
    hook = getattr(crew, "on_provider_failure", None)
    if hook is None:
        return lambda state, _block: callback_or_transfer(state)
    return cast(Callable[[CallState, str], ProviderFailurePlan], hook)


class ProviderRecovery:
    """One call's recovery: counts caller lines for the log, watches for a block that failed
    entirely, and plays the crew's plan once."""

    def __init__(
        self,
        state: CallState,
        *,
        plan: Callable[[CallState, str], ProviderFailurePlan] | None = None,
        cache: PhraseCache | None = None,
    ) -> None:
        self.state = state
        self.log = ProviderLog(errors=state.errors)
        self._plan = plan or (lambda s, _block: callback_or_transfer(s))
        self._cache = cache
        self._session: AgentSession[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def cache(self) -> PhraseCache | None:
        return self._cache

    def attach(self, session: AgentSession[Any], chains: list[Chain]) -> None:
        self._session = session
        for chain in chains:
            self.log.attach(chain)
        if isinstance(session.tts, PhraseTTS):
            # The filler's segment plays from the cache: the TTS may be what is late.
            session.tts.set_instant([self.state.profile.one_moment])
            session.tts.stats = self.state.phrase_stats
        if isinstance(session.llm, RecoveringLLM):
            self.bind_llm(session.llm)
            self.log.attach(session.llm.chain)
        session.on("conversation_item_added", self._on_item)
        session.on("error", self._on_error)

    def bind_llm(self, model: RecoveringLLM) -> None:
        """`model` (the session's, or an agent's own) gets this call's filler and ending."""
        model.filler_text = self.state.profile.one_moment
        model.on_failure = self.llm_failed

    def _on_item(self, ev: Any) -> None:
        if getattr(ev.item, "role", None) == "user":
            self.log.caller_lines += 1

    def _on_error(self, ev: Any) -> None:
        error = ev.error
        if getattr(error, "recoverable", True):
            return
        kind = _ERROR_KINDS.get(getattr(error, "type", ""))
        if kind is not None:
            self.block_failed(kind, describe_error(getattr(error, "error", None)))

    def llm_failed(self, reason: str, cut_short: bool) -> None:
        if cut_short:
            # Part of the reply was already spoken: the next turn goes to the next provider.
            self.log.record_error(f"llm: the reply was cut short: {reason}")
            return
        self.block_failed("llm", reason)

    def block_failed(self, kind: BlockKind, reason: str) -> None:
        if not self.log.block_failed(kind, reason) or self._task is not None:
            return
        self._task = asyncio.create_task(self._recover(kind))

    async def settle(self) -> None:
        """Wait for the ending under way, if any (a rehearsal checks the call right after)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    @property
    def ending(self) -> bool:
        return self._task is not None

    async def _recover(self, kind: BlockKind) -> None:
        state, session = self.state, self._session
        plan = self._plan(state, kind)
        state.set_outcome(Outcome.PROVIDER_FAILURE)
        state.ended_by = EndedBy.PROVIDER_FAILURE
        state.notes["provider_failure"] = {"block": kind, "action": plan.action}
        logger.error("call %s: every %s provider failed; %s", state.info.call_id, kind, plan.action)
        if session is not None:
            try:
                handle = await say_phrase(
                    session,
                    plan.say,
                    cache=self._cache,
                    stats=state.phrase_stats,
                    allow_interruptions=False,
                )
                await asyncio.wait_for(handle.wait_for_playout(), APOLOGY_TIMEOUT_S)
            except Exception as exc:  # the ending below happens whatever the apology did
                self.log.record_error(f"apology not played: {describe_error(exc)}")
        control = state.control
        if plan.transfer_to and control.can_transfer:
            try:
                await control.transfer(plan.transfer_to)
                return
            except Exception as exc:
                self.log.record_error(f"transfer failed: {describe_error(exc)}")
        await control.hang_up("provider_failure")
