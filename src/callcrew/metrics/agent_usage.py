"""Usage per agent: which agent each token, character and second of audio belongs to.

LiveKit sums a session's usage per model; a crew whose story agent runs its own LLM and voice
needs it per agent too. `track_agent_usage` listens to the session: an LLM or TTS figure belongs
to the agent whose speech produced it (LiveKit tags it with the speech id, and we note which
agent created each speech), anything else to the agent current when it arrived. The ledger also
keeps each agent's provider overrides (providers/agent_providers.py records them) and how long
each agent held the call, for the report's `agents` section and its per-agent cost.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any

# Ledgers by id(call state): a CallState is an unhashable dataclass, and the ledger must not
# outlive its call (weakref.finalize drops it with the state).
_LEDGERS: dict[int, AgentLedger] = {}


@dataclass
class _Usage:
    kind: str
    provider: str
    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    characters: int = 0
    audio_s: float = 0.0

    def row(self) -> dict[str, Any]:
        base: dict[str, Any] = {"kind": self.kind, "provider": self.provider, "model": self.model}
        if self.kind == "llm":
            return base | {
                "input_tokens": self.input_tokens,
                "cached_input_tokens": self.cached_input_tokens,
                "output_tokens": self.output_tokens,
            }
        if self.kind == "tts":
            return base | {"characters": self.characters, "audio_s": round(self.audio_s, 3)}
        return base | {"audio_s": round(self.audio_s, 3)}


@dataclass
class AgentLedger:
    """One call's per-agent record: overrides, usage rows and time held, by agent id."""

    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    usage: dict[str, dict[tuple[str, str, str], _Usage]] = field(default_factory=dict)
    held_s: dict[str, float] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    _speech_agent: dict[str, str] = field(default_factory=dict)
    _current: str | None = None
    _since: float = 0.0
    _attached: bool = False

    def _seen(self, agent: str) -> None:
        if agent not in self.order:
            self.order.append(agent)

    def record_overrides(self, agent: str, overrides: dict[str, str]) -> None:
        self._seen(agent)
        if overrides:
            self.overrides[agent] = dict(overrides)

    def switch_to(self, agent: str | None, now: float) -> None:
        """`agent` holds the call from `now` (None: nobody, the session ended)."""
        if agent == self._current:
            return
        if self._current is not None:
            self.held_s[self._current] = self.held_s.get(self._current, 0.0) + now - self._since
        self._current, self._since = agent, now
        if agent is not None:
            self._seen(agent)

    def add(self, agent: str, metrics: Any) -> None:
        """One LiveKit metrics event (LLMMetrics, TTSMetrics, STTMetrics) for `agent`."""
        kind = {"llm_metrics": "llm", "tts_metrics": "tts", "stt_metrics": "stt"}.get(
            getattr(metrics, "type", "")
        )
        if kind is None:
            return  # VAD, end-of-turn and the like cost nothing per agent
        meta = getattr(metrics, "metadata", None)
        provider = str(getattr(meta, "model_provider", None) or "unknown")
        model = str(getattr(meta, "model_name", None) or "unknown")
        self._seen(agent)
        rows = self.usage.setdefault(agent, {})
        u = rows.setdefault((kind, provider, model), _Usage(kind, provider, model))
        if kind == "llm":
            u.input_tokens += int(metrics.prompt_tokens)
            u.cached_input_tokens += int(metrics.prompt_cached_tokens)
            u.output_tokens += int(metrics.completion_tokens)
        elif kind == "tts":
            u.characters += int(metrics.characters_count)
            u.audio_s += float(metrics.audio_duration)
        else:
            u.audio_s += float(metrics.audio_duration)

    def section(self, now: float | None = None) -> list[dict[str, Any]]:
        """The report's `agents`: one entry per agent, in the order they joined the call."""
        held = dict(self.held_s)
        if self._current is not None:
            end = time.time() if now is None else now
            held[self._current] = held.get(self._current, 0.0) + max(0.0, end - self._since)
        return [
            {
                "agent": agent,
                "overrides": dict(self.overrides.get(agent, {})),
                "held_s": round(held.get(agent, 0.0), 3),
                "usage": [u.row() for u in self.usage.get(agent, {}).values()],
            }
            for agent in self.order
        ]


def ledger_for(state: object) -> AgentLedger:
    """The call's ledger, made on first use."""
    key = id(state)
    ledger = _LEDGERS.get(key)
    if ledger is None:
        ledger = AgentLedger()
        try:
            weakref.finalize(state, _LEDGERS.pop, key, None)
        except TypeError:  # not a call state (None, a plain dict): nothing to keep it for
            return ledger
        _LEDGERS[key] = ledger
    return ledger


def agents_section(state: object | None) -> list[dict[str, Any]]:
    """The `agents` section for `state`'s report; empty when nothing was tracked or configured."""
    if state is None or id(state) not in _LEDGERS:
        return []
    return _LEDGERS[id(state)].section()


def _agent_id(session: Any) -> str | None:
    try:
        return str(session.current_agent.id)
    except RuntimeError:  # no agent yet, or the session closed
        return None


def track_agent_usage(session: Any) -> AgentLedger:
    """Attribute the session's usage to its agents, in the ledger of its userdata (idempotent)."""
    try:
        state = session.userdata
    except ValueError:  # a session without call state: nothing to attribute to
        return AgentLedger()
    ledger = ledger_for(state)
    if ledger._attached:
        return ledger
    ledger._attached = True

    def _current() -> str | None:
        agent = _agent_id(session)
        if agent is not None:
            ledger.switch_to(agent, time.time())
        return agent

    def _on_speech(ev: Any) -> None:
        agent = _current()
        if agent is not None:
            ledger._speech_agent[ev.speech_handle.id] = agent

    def _on_metrics(ev: Any) -> None:
        current = _current()
        speech = getattr(ev.metrics, "speech_id", None)
        # A reply still playing after a hand-off is the agent's that said it.
        agent = ledger._speech_agent.get(speech, current) if speech else current
        if agent is not None:
            ledger.add(agent, ev.metrics)

    def _on_state(_: Any) -> None:
        _current()

    def _on_close(_: Any) -> None:
        ledger.switch_to(None, time.time())

    session.on("speech_created", _on_speech)
    # Each figure with its speech id: only this (deprecated) event carries it, and the session's
    # own `on` would log a deprecation warning on every call for subscribing to it.
    from livekit import rtc

    rtc.EventEmitter.on(session, "metrics_collected", _on_metrics)
    session.on("agent_state_changed", _on_state)
    session.on("conversation_item_added", _on_state)
    session.on("close", _on_close)
    return ledger
