"""Fallback chains for STT, LLM and TTS on LiveKit's own FallbackAdapters, and their record.

A block's chain is its provider then `<BLOCK>_FALLBACK`, tried in order, each attempt bounded
by `<BLOCK>_ATTEMPT_TIMEOUT` and retried `PROVIDER_RETRIES` times: seconds, not the framework's
10 s x 4 tries, because a caller hangs up after a few seconds of silence. The LLM chain is
always an adapter (its timeout and no-retry policy apply to a single provider too); an STT or
TTS chain of one stays the plugin itself.

`ProviderLog` listens to every member and adapter and keeps, for the call report, which
provider served after which caller line, each switch with its (scrubbed) reason, and every
failure as an error line naming the provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from livekit.agents import llm, stt, tts, vad

from callcrew.metrics.report import (
    BlockKind,
    ProviderServed,
    ProvidersReport,
    ProviderSwitch,
)
from callcrew.providers.shared_vad import CallVAD
from callcrew.providers.stacks import StackChoice, build_llm, build_stt, build_tts
from callcrew.scrub import install_log_scrubber, scrub
from callcrew.settings import Settings, SettingsError

# Errors kept per call: a provider that stays down must not grow the report without bound.
MAX_ERRORS = 50
# Pause before retrying the same provider (only when PROVIDER_RETRIES > 0).
RETRY_INTERVAL_S = 0.3


@dataclass
class Chain:
    kind: BlockKind
    engine: Any  # the adapter, or the only member
    members: list[tuple[str, Any]]  # (provider/model, plugin), in the order tried
    wrapped: list[Any] = field(default_factory=list)  # what the adapter holds, if not members

    @property
    def adapter(self) -> Any | None:
        return self.engine if len(self.members) > 1 or self.kind == "llm" else None


def build_llm_chain(settings: Settings, choice: StackChoice) -> Chain:
    # Every path that talks to providers builds this chain: from here on no log line carries
    # an upstream body's key (LiveKit logs each failure it switches away from).
    install_log_scrubber()
    members = [(str(b), build_llm(settings, b)) for b in choice.chain("llm")]
    adapter = llm.FallbackAdapter(
        [m for _, m in members],
        attempt_timeout=settings.llm_attempt_timeout,
        max_retry_per_llm=settings.provider_retries,
        retry_interval=RETRY_INTERVAL_S,
    )
    return Chain("llm", adapter, members)


def build_stt_chain(
    settings: Settings,
    choice: StackChoice,
    vad_model: vad.VAD | None,
    wrap: Callable[[stt.STT[Any]], stt.STT[Any]] | None = None,
) -> Chain:
    """`wrap` goes around each provider (the VAD gate: a streaming provider hears only speech,
    and a batch one keeps LiveKit's own segmenting, whichever of them serves)."""
    members = [(str(b), build_stt(settings, b)) for b in choice.chain("stt")]
    wrapped = [wrap(m) if wrap is not None else m for _, m in members]
    if len(members) == 1:
        return Chain("stt", wrapped[0], members, wrapped)
    try:
        adapter = stt.FallbackAdapter(
            wrapped,
            vad=vad_model,
            attempt_timeout=settings.stt_attempt_timeout,
            max_retry_per_stt=settings.provider_retries,
            retry_interval=RETRY_INTERVAL_S,
        )
    except ValueError as exc:  # a non-streaming STT in the chain and no VAD to segment for it
        raise SettingsError([f"STT_FALLBACK: {exc}"]) from None
    return Chain("stt", adapter, members, wrapped)


def build_call_stt_chain(
    settings: Settings, choice: StackChoice, call_vad: CallVAD | None
) -> Chain:
    """The call's STT chain: each streaming provider gated (`STT_VAD_GATE`), a batch one cut
    into utterances (providers/turn_stt.py: Whisper a turn at a time), all on the session's
    one VAD inference (providers/shared_vad.py: `call_vad` is the call's `CallVAD`, or None
    without a VAD)."""
    from callcrew.providers.gated_stt import gate_stt

    follower = call_vad.follower() if call_vad is not None else None

    def gate(member: stt.STT[Any]) -> stt.STT[Any]:
        return gate_stt(
            member,
            follower,
            enabled=settings.stt_vad_gate,
            pre_roll_s=settings.stt_gate_pre_roll_s,
            post_roll_s=settings.stt_gate_post_roll_s,
        )

    chain = build_stt_chain(settings, choice, follower, wrap=gate)
    if call_vad is not None and not chain.engine.capabilities.streaming:
        # Else the session wraps it with its own VAD: a second inference on the same frames.
        from callcrew.providers.turn_stt import cut_by_vad

        chain.engine = cut_by_vad(
            chain.engine,
            call_vad.follower(inference_events=True),
            turn_context=settings.stt_turn_context,
        )
        chain.wrapped = [chain.engine]
    return chain


def build_tts_chain(settings: Settings, choice: StackChoice) -> Chain:
    members = [(str(b), build_tts(settings, b)) for b in choice.chain("tts")]
    if len(members) == 1:
        return Chain("tts", members[0][1], members)
    # The TTS adapter's attempt timeout is the session's tts_conn_options (providers/session.py).
    adapter = tts.FallbackAdapter(
        [m for _, m in members], max_retry_per_tts=settings.provider_retries
    )
    return Chain("tts", adapter, members)


def adapter_of(engine: Any) -> Any | None:
    """The LiveKit FallbackAdapter a session block runs on, through our wrappers (the LLM's
    `RecoveringLLM`, the STT's VAD gate), or None for a block of one provider."""
    for _ in range(4):
        if isinstance(engine, llm.FallbackAdapter | stt.FallbackAdapter | tts.FallbackAdapter):
            return engine
        engine = getattr(engine, "inner", None) or getattr(engine, "_inner", None)
        if engine is None:
            return None
    return None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def describe_error(exc: BaseException | None) -> str:
    """One scrubbed line: the exception type and its message (an upstream body included)."""
    if exc is None:
        return "unknown error"
    text = str(exc).strip() or "no detail"
    name = type(exc).__name__
    if name in ("TimeoutError", "CancelledError") and text == "no detail":
        text = "timed out"
    return scrub(f"{name}: {text}")[:400]


@dataclass
class ProviderLog:
    """Who served, each switch, each failure: the report's `providers` and error lines."""

    errors: list[str]  # the call's error list (CallState.errors): failures land there
    chains: dict[str, list[str]] = field(default_factory=dict)
    served: list[ProviderServed] = field(default_factory=list)
    switches: list[ProviderSwitch] = field(default_factory=list)
    failed_blocks: list[BlockKind] = field(default_factory=list)
    caller_lines: int = 0  # caller lines heard so far (the monitor counts them)
    _last_error: dict[str, str] = field(default_factory=dict)
    _down: set[str] = field(default_factory=set)  # providers marked unavailable now
    _labels: dict[int, tuple[BlockKind, str]] = field(default_factory=dict)
    _detach: list[Callable[[], None]] = field(default_factory=list)

    def attach(self, chain: Chain, key: str | None = None) -> None:
        """`key` names the chain in the report (default its block; an agent's own: "llm@story")."""
        self.chains[key or chain.kind] = [label for label, _ in chain.members]
        for i, (label, member) in enumerate(chain.members):
            self._labels[id(member)] = (chain.kind, label)
            if i < len(chain.wrapped):  # the adapter's events name the wrapper it holds
                self._labels[id(chain.wrapped[i])] = (chain.kind, label)
            self._on(member, "error", self._error_handler(chain.kind, label))
            self._on(member, "metrics_collected", self._served_handler(chain.kind, label))
        if chain.adapter is not None:
            self._on(chain.adapter, f"{chain.kind}_availability_changed", self._on_availability)

    def _on(self, emitter: Any, event: str, handler: Callable[..., None]) -> None:
        emitter.on(event, handler)
        self._detach.append(lambda: emitter.off(event, handler))

    def close(self) -> None:
        for detach in self._detach:
            detach()
        self._detach.clear()

    def _error_handler(self, kind: BlockKind, label: str) -> Callable[[Any], None]:
        def _on_error(ev: Any) -> None:
            reason = describe_error(getattr(ev, "error", None))
            self._last_error[label] = reason
            if label in self._down:
                # LiveKit probes a provider it marked down: one more failure of the same outage.
                note = " (recovery probe)"
            else:
                note = " (retrying)" if getattr(ev, "recoverable", False) else ""
            self.record_error(f"{kind} {label}: {reason}{note}")

        return _on_error

    def record_error(self, line: str) -> None:
        line = scrub(line)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(line)
        elif len(self.errors) == MAX_ERRORS:
            self.errors.append("(further errors not kept)")

    def _served_handler(self, kind: BlockKind, label: str) -> Callable[[Any], None]:
        def _on_metrics(ev: Any) -> None:
            # A request cancelled before any output (a hanging provider the adapter gave up on)
            # still reports metrics: it served nothing.
            produced = getattr(ev, "audio_duration", None)
            if produced is None:
                produced = getattr(ev, "completion_tokens", 1)
            if getattr(ev, "cancelled", False) and not produced:
                return
            self.mark_served(kind, label)

        return _on_metrics

    def mark_served(self, kind: BlockKind, label: str) -> None:
        for switch in self.switches:
            waiting = switch["block"] == kind and not switch["available"] and switch["to"] is None
            if waiting and switch["provider"] != label:
                switch["to"] = label
        last = next((s for s in reversed(self.served) if s["block"] == kind), None)
        # STT reports usage every few seconds: one row per provider per caller line is enough.
        if last is not None and last["provider"] == label and last["line"] == self.caller_lines:
            return
        self.served.append(
            ProviderServed(block=kind, provider=label, line=self.caller_lines, at=_now())
        )

    def _on_availability(self, ev: Any) -> None:
        engine = getattr(ev, "llm", None) or getattr(ev, "stt", None) or getattr(ev, "tts", None)
        kind, label = self._labels.get(id(engine), ("llm", getattr(engine, "label", "?")))
        if ev.available:
            self._down.discard(label)
        else:
            self._down.add(label)
        self.switches.append(
            ProviderSwitch(
                block=kind,
                provider=label,
                available=bool(ev.available),
                reason=None if ev.available else self._last_error.get(label, "failed"),
                to=None,
                at=_now(),
            )
        )

    def block_failed(self, kind: BlockKind, reason: str) -> bool:
        """Every provider of `kind` failed; False if that was already known."""
        if kind in self.failed_blocks:
            return False
        self.failed_blocks.append(kind)
        chain = " > ".join(self.chains.get(kind, [])) or kind
        self.record_error(f"{kind}: every provider failed ({chain}): {scrub(reason)}")
        return True

    def report(self) -> ProvidersReport:
        return ProvidersReport(
            chains=dict(self.chains),
            served=list(self.served),
            switches=list(self.switches),
            failed_blocks=list(self.failed_blocks),
        )
