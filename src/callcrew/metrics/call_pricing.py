"""Pricing one measured call: what its tokens, audio and minutes cost under a catalog.

The catalog (models, stacks, loading) is `metrics/pricing.py`, which re-exports these names so
`from callcrew.metrics.pricing import price_call` keeps working. This module imports it only for
types, so either can be imported first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcrew.metrics.pricing import Catalog, Component, PriceEntry, Stack

_MILLION = Decimal(1_000_000)
_SIXTY = Decimal(60)
_COMPONENTS = ("livekit", "stt", "llm", "tts", "telephony")  # pricing.COMPONENTS


def _catalog_error(problem: str) -> Exception:
    from callcrew.metrics.pricing import CatalogError

    return CatalogError([problem])


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one model used in a call. `input` counts every prompt token, cached ones included,
    the way OpenAI and LiveKit's LLMMetrics report them; `cached_input` is the cached share."""

    input: int = 0
    cached_input: int = 0
    output: int = 0

    def __post_init__(self) -> None:
        if min(self.input, self.cached_input, self.output) < 0:
            raise ValueError("token counts must not be negative")
        if self.cached_input > self.input:
            raise ValueError("cached_input is part of input and cannot exceed it")


@dataclass(frozen=True)
class CallUsage:
    """What one call consumed, as measured.

    `tts_audio_s` and `tts_characters` count only what the TTS provider synthesized;
    `cached_tts_audio_s` is audio played from the phrase cache, recorded but never billed.
    `llm` maps "provider/model" (a catalog key) to that model's tokens, so fallbacks are priced
    at the model that actually answered.
    """

    duration_s: float
    stt_audio_s: float = 0.0
    tts_audio_s: float = 0.0
    tts_characters: int = 0
    llm: Mapping[str, TokenUsage] = field(default_factory=dict)
    cached_tts_audio_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duration_s", "stt_audio_s", "tts_audio_s", "tts_characters"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.cached_tts_audio_s < 0:
            raise ValueError("cached_tts_audio_s must not be negative")


@dataclass(frozen=True)
class CallCost:
    """USD per component and total for one call, rounded to 6 decimals."""

    livekit: float
    stt: float
    llm: float
    tts: float
    telephony: float
    total: float
    llm_by_model: dict[str, float] = field(default_factory=dict)

    def components(self) -> dict[str, float]:
        return {c: getattr(self, c) for c in _COMPONENTS}


def price_call(usage: CallUsage, catalog: Catalog, stack: str | Stack, *, channel: str) -> CallCost:
    """Price one measured call with `stack` (a name in the catalog, or a Stack with per-block
    overrides applied).

    Plans (LiveKit, ElevenLabs) are priced at their overage rate per minute: the monthly base is a
    fixed cost of the month, not of any one call, and sharing it out would make a call's cost
    depend on how many other calls happened. Telephony bills only the leg the call used:
    origination for inbound, termination for outbound, nothing for web. (The planner, following
    the seed article, budgets both legs on every minute.)
    """
    if channel not in ("inbound", "outbound", "web"):
        raise ValueError(f"channel must be inbound, outbound or web, not {channel!r}")
    chosen = catalog.stack(stack) if isinstance(stack, str) else stack

    def entry(component: Component) -> PriceEntry | None:
        model_id = chosen.model_for(component)
        return None if model_id is None else catalog.price(model_id)

    minutes = _dec(usage.duration_s) / _SIXTY

    def on_compute(component: Component) -> Decimal | None:
        # Self-run software costs its CPU for the whole call, whatever it heard or said.
        e = entry(component)
        return None if e is None or e.compute is None else catalog.compute_per_minute(e) * minutes

    livekit = on_compute("livekit")
    if livekit is None:
        livekit = _per_minute_rate(entry("livekit"), "livekit") * minutes
    stt = on_compute("stt")
    if stt is None:
        stt = _per_minute_rate(entry("stt"), "stt") * _dec(usage.stt_audio_s) / _SIXTY

    tts_entry = entry("tts")
    tts = on_compute("tts")
    if tts is None and tts_entry is not None and tts_entry.per_character is not None:
        tts = tts_entry.per_character * usage.tts_characters
    if tts is None:
        tts = _per_minute_rate(tts_entry, "tts") * _dec(usage.tts_audio_s) / _SIXTY

    llm_by_model: dict[str, Decimal] = {}
    for model_id, tokens in usage.llm.items():
        llm_by_model[model_id] = llm_cost(
            catalog.price(model_id),
            cached_input=tokens.cached_input,
            input=tokens.input - tokens.cached_input,
            output=tokens.output,
        )
    llm = sum(llm_by_model.values(), Decimal(0)) + (on_compute("llm") or Decimal(0))

    telephony = Decimal(0)
    tel_entry = entry("telephony")
    if channel != "web" and tel_entry is not None:
        if tel_entry.sip_per_minute is not None:
            leg = tel_entry.sip_per_minute
            rate = leg.origination if channel == "inbound" else leg.termination
        else:
            rate = _per_minute_rate(tel_entry, "telephony")
        telephony = rate * minutes

    total = livekit + stt + llm + tts + telephony
    return CallCost(
        livekit=_r6(livekit),
        stt=_r6(stt),
        llm=_r6(llm),
        tts=_r6(tts),
        telephony=_r6(telephony),
        total=_r6(total),
        llm_by_model={k: _r6(v) for k, v in llm_by_model.items()},
    )


def llm_cost(entry: PriceEntry, *, cached_input: int, input: int, output: int) -> Decimal:
    """USD for tokens at `entry`'s rates; `input` here is the non-cached prompt tokens only.
    A self-run model (`compute`) costs its CPU per call-minute, not per token: 0 here."""
    if entry.free or entry.compute is not None:
        return Decimal(0)
    rates = entry.per_million_tokens
    if rates is None:
        raise _catalog_error(f"models: an LLM needs per_million_tokens, got {entry.unit}")
    return (
        cached_input * rates.cached_input + input * rates.input + output * rates.output
    ) / _MILLION


def _per_minute_rate(entry: PriceEntry | None, component: str) -> Decimal:
    if entry is None or entry.free or entry.compute is not None:
        return Decimal(0)
    if entry.per_minute is not None:
        return entry.per_minute
    if entry.plan is not None:
        return entry.plan.overage_per_min
    raise _catalog_error(f"models: {component} billed {entry.unit} cannot be priced per minute")


def _dec(value: float | int) -> Decimal:
    # via str: Decimal(0.1) would carry the float's binary error into every product
    return Decimal(str(value))


def _r6(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP))
