"""The monthly cost planner: the seed article's cost model over any catalog and stack.

Rules (DESIGN.md, "Cost planner"): monthly plans (LiveKit, ElevenLabs) cost their base plus the
overage beyond the included minutes; STT is billed on caller-speech minutes (1 - talk share), TTS on
agent-speech minutes (talk share), telephony on every minute at termination + origination (both
legs, as the article's published figures do); the LLM costs, per call, turns x system-prompt tokens
at the cached rate plus the non-cached input and output tokens; the discount applies to the total.
Per hour is per call x calls per hour, the article's way.

Billing basis (issue 20): each catalog entry may say how its provider really bills, and the
planner applies it where the seed's rule and the provider differ, naming the rule each line used
(`PlanResult.rules`). STT: `stt_billing` "speech" is the seed's rule (caller-speech minutes; also
what a VAD-gated STT input sends, within its pre-roll), "streamed" bills every minute of the call
(what a streaming STT fed every frame bills), "catalog" takes the entry's own `billed_on`. LLM:
a system prompt shorter than the entry's `cache_min_tokens` is billed at the input rate (the
provider does not cache it). Self-run software (`compute`) costs CPU-seconds per call-minute at the
catalog's $/vCPU-hour, on every minute.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callcrew.metrics.pricing import (
    COMPONENTS,
    CallCost,
    CallUsage,
    Catalog,
    CatalogError,
    Component,
    PriceEntry,
    Stack,
    TokenUsage,
    VcpuPrice,
    llm_cost,
    price_call,
)

__all__ = [
    "CallCost",
    "CallUsage",
    "PlanInputs",
    "PlanResult",
    "TokenUsage",
    "plan",
    "price_call",
]


SELF_HOSTED_LIVEKIT = "livekit/self-hosted"
MAX_VCPU_HOUR_USD = 1000  # far above any cloud's price: a bigger figure is a typo


class PlanInputs(BaseModel):
    """A month of calls. Field names and defaults are the seed's assumptions
    (shared/fixtures/seed_costs.json), so `PlanInputs(**fixture["assumptions"])` works."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Upper bounds: far beyond any real desk, and low enough that every product of them stays
    # inside Decimal's 28 digits (1e25 minutes used to end in decimal.InvalidOperation).
    agents: int = Field(
        10, ge=1, le=100_000, description="agents answering or placing calls in parallel"
    )
    calls_per_agent_per_day: int = Field(
        100, ge=0, le=100_000, description="calls each agent handles a day"
    )
    business_days: int = Field(22, ge=1, le=31, description="working days in the month")
    call_minutes: Decimal = Field(Decimal(3), gt=0, le=1440, allow_inf_nan=False)
    agent_talk_share: Decimal = Field(Decimal("0.5"), ge=0, le=1, allow_inf_nan=False)
    llm_turns_per_call: int = Field(6, ge=0, le=10_000)
    system_prompt_tokens: int = Field(
        2000, ge=0, le=10_000_000, description="sent every turn, at cached rate"
    )
    non_cached_input_tokens_per_call: int = Field(975, ge=0, le=100_000_000)
    output_tokens_per_call: int = Field(210, ge=0, le=100_000_000)
    calls_per_hour: Decimal = Field(
        Decimal(20), ge=Decimal("0.01"), le=100_000, allow_inf_nan=False
    )
    discount: Decimal = Field(Decimal(0), ge=0, lt=1, allow_inf_nan=False)
    tts_characters_per_minute: Decimal | None = Field(
        None,
        gt=0,
        le=1_000_000,
        allow_inf_nan=False,
        description="only for TTS billed per character",
    )
    stt_billing: Literal["speech", "streamed", "catalog"] = Field(
        "speech", description="STT minutes: caller speech (seed), the whole call, or the entry's"
    )


@dataclass(frozen=True)
class PlanResult:
    """Exact amounts (unrounded Decimals); `to_json` rounds them for display."""

    stack: str
    label: str
    catalog: str
    inputs: PlanInputs
    calls: int
    minutes: Decimal
    stt_minutes: Decimal
    tts_minutes: Decimal
    components: dict[Component, Decimal]
    basis: dict[Component, str]
    rules: dict[Component, str]
    llm_per_call: Decimal
    subtotal: Decimal
    total: Decimal

    @property
    def discount_usd(self) -> Decimal:
        return self.subtotal - self.total

    @property
    def per_call(self) -> Decimal | None:
        """None with zero calls: plan bases still cost money, so no per-call figure is honest."""
        return self.total / self.calls if self.calls else None

    @property
    def per_hour(self) -> Decimal | None:
        per_call = self.per_call
        return None if per_call is None else per_call * self.inputs.calls_per_hour

    def to_json(self) -> dict[str, Any]:
        """The `callcrew cost --json` contract. Components are list prices; the discount shows
        only in the total (that is where the article applies it). Money is rounded to the cent,
        per call to 6 decimals: at 4 the seed's premium figure would print 0.1501 against a
        published 0.1500 (the article truncates 0.150067)."""
        per_call, per_hour = self.per_call, self.per_hour
        return {
            "stack": self.stack,
            "calls": self.calls,
            "minutes": _number(self.minutes),
            "components": {c: float(cents(v)) for c, v in self.components.items()},
            "total_usd": float(cents(self.total)),
            "per_call_usd": None if per_call is None else float(_q(per_call, "0.000001")),
            "per_hour_usd": None if per_hour is None else float(cents(per_hour)),
            # Added by issue 20 (the contract's keys above are unchanged): the rule per line.
            "rules": dict(self.rules),
        }


def plan(inputs: PlanInputs, catalog: Catalog, stack: str | Stack) -> PlanResult:
    """Price a month of `inputs` with `stack` (a name in `catalog`, or a Stack)."""
    chosen = catalog.stack(stack) if isinstance(stack, str) else stack
    name = stack if isinstance(stack, str) else (chosen.label or "custom")

    calls = inputs.agents * inputs.calls_per_agent_per_day * inputs.business_days
    minutes = calls * inputs.call_minutes
    tts_minutes = minutes * inputs.agent_talk_share
    speech_minutes = minutes - tts_minutes

    def entry(component: Component) -> PriceEntry | None:
        model_id = chosen.model_for(component)
        return None if model_id is None else catalog.price(model_id)

    costs: dict[Component, Decimal] = {}
    basis: dict[Component, str] = {}
    rules: dict[Component, str] = {}
    for component in COMPONENTS:
        e = entry(component)
        if e is not None and e.compute is not None:
            costs[component], basis[component] = _compute_cost(catalog, e, minutes)
            rules[component] = "compute: CPU-s per call-minute x $/vCPU-hour, every minute"

    if "livekit" not in costs:
        costs["livekit"], basis["livekit"] = _minutes_cost(entry("livekit"), minutes)
        rules["livekit"] = _minutes_rule(entry("livekit"), "every minute")

    stt_minutes = speech_minutes
    if "stt" not in costs:
        stt_entry = entry("stt")
        billed = _stt_billing(inputs, stt_entry)
        stt_minutes = minutes if billed == "streamed" else speech_minutes
        costs["stt"], basis["stt"] = _minutes_cost(stt_entry, stt_minutes)
        rules["stt"] = _minutes_rule(
            stt_entry,
            "every minute of the call (audio streamed)"
            if billed == "streamed"
            else "caller-speech minutes (seed rule)",
        )

    llm_entry = catalog.price(chosen.llm)
    prompt = inputs.llm_turns_per_call * inputs.system_prompt_tokens
    minimum = llm_entry.cache_min_tokens or 0
    cached = inputs.system_prompt_tokens >= minimum
    llm_per_call = llm_cost(
        llm_entry,
        cached_input=prompt if cached else 0,
        input=inputs.non_cached_input_tokens_per_call + (0 if cached else prompt),
        output=inputs.output_tokens_per_call,
    )
    if "llm" in costs:
        llm_per_call = costs["llm"] / calls if calls else Decimal(0)
    else:
        costs["llm"] = llm_per_call * calls
        basis["llm"] = "free" if llm_entry.free else f"{calls:,} calls x ${_plain(llm_per_call)}"
        rules["llm"] = (
            "free"
            if llm_entry.free
            else "per token: turns x system prompt at the cached rate + input + output"
            if cached
            else f"per token: system prompt under the {minimum:,}-token caching minimum, "
            "billed at the input rate"
        )

    if "tts" not in costs:
        costs["tts"], basis["tts"], rules["tts"] = _tts_cost(
            catalog, name, entry("tts"), tts_minutes, inputs.tts_characters_per_minute
        )

    tel_entry = entry("telephony")
    if tel_entry is not None and tel_entry.sip_per_minute is not None:
        legs = tel_entry.sip_per_minute
        costs["telephony"] = minutes * (legs.termination + legs.origination)
        basis["telephony"] = (
            f"{_plain(minutes)} min x (${_plain(legs.termination)} out "
            f"+ ${_plain(legs.origination)} in)"
        )
        rules["telephony"] = "both SIP legs on every minute (seed rule)"
    else:
        costs["telephony"], basis["telephony"] = _minutes_cost(tel_entry, minutes)
        rules["telephony"] = _minutes_rule(tel_entry, "every minute")

    components = {c: costs[c] for c in COMPONENTS}
    subtotal = sum(components.values(), Decimal(0))
    return PlanResult(
        stack=name,
        label=chosen.label,
        catalog=catalog.origin,
        inputs=inputs,
        calls=calls,
        minutes=minutes,
        stt_minutes=stt_minutes,
        tts_minutes=tts_minutes,
        components=components,
        basis={c: basis[c] for c in COMPONENTS},
        rules={c: rules[c] for c in COMPONENTS},
        llm_per_call=llm_per_call,
        subtotal=subtotal,
        total=subtotal * (1 - inputs.discount),
    )


def self_hosted_stack(catalog: Catalog, stack: str | Stack) -> Stack:
    """`stack` with LiveKit (server, SIP, the worker's host) on your machines instead of Cloud."""
    chosen = catalog.stack(stack) if isinstance(stack, str) else stack
    catalog.price(SELF_HOSTED_LIVEKIT)  # a user's catalog without it fails here, clearly
    label = f"{chosen.label}, self-hosted LiveKit" if chosen.label else "self-hosted LiveKit"
    return chosen.model_copy(update={"livekit": SELF_HOSTED_LIVEKIT, "label": label})


def with_vcpu_price(catalog: Catalog, usd: float | Decimal | None) -> Catalog:
    """`catalog` with the vCPU-hour price replaced (None keeps the catalog's)."""
    if usd is None:
        return catalog
    value = Decimal(str(usd))
    if not value.is_finite() or not 0 <= value <= MAX_VCPU_HOUR_USD:
        raise CatalogError(
            [f"--vcpu-hour-usd: must be a number from 0 to {MAX_VCPU_HOUR_USD} (got {usd!r})"]
        )
    price = VcpuPrice(
        usd=Decimal(str(usd)), source="given on the command line", date=dt.date.today().isoformat()
    )
    updated = catalog.model_copy(update={"vcpu_hour": price})
    updated._origin = catalog.origin
    return updated


def _tts_cost(
    catalog: Catalog,
    stack: str,
    entry: PriceEntry | None,
    tts_minutes: Decimal,
    chars_per_minute: Decimal | None,
) -> tuple[Decimal, str, str]:
    if entry is None or entry.per_character is None:
        cost, text = _minutes_cost(entry, tts_minutes)
        return cost, text, _minutes_rule(entry, "agent-speech minutes")
    if chars_per_minute is None:
        raise CatalogError(
            [
                f"{catalog.origin}: stacks[{stack}].tts: billed per character; give the "
                "characters spoken per minute (tts_characters_per_minute)"
            ]
        )
    chars = tts_minutes * chars_per_minute
    text = f"{_plain(chars)} chars x ${_plain(entry.per_character)}"
    return chars * entry.per_character, text, "per character of agent speech"


def _stt_billing(inputs: PlanInputs, entry: PriceEntry | None) -> str:
    if inputs.stt_billing != "catalog":
        return inputs.stt_billing
    # An entry that does not say is taken at the seed's rule.
    return (entry.billed_on if entry is not None else None) or "speech"


def _minutes_rule(entry: PriceEntry | None, minutes: str) -> str:
    if entry is None:
        return "not used"
    if entry.free:
        return "free"
    if entry.plan is not None:
        return f"plan base + overage, on {minutes}"
    return f"per minute, on {minutes}"


def _compute_cost(catalog: Catalog, entry: PriceEntry, minutes: Decimal) -> tuple[Decimal, str]:
    assert entry.compute is not None and catalog.vcpu_hour is not None  # checked at load
    cost = catalog.compute_per_minute(entry) * minutes
    text = (
        f"{_plain(minutes)} call-min x {_plain(entry.compute.cpu_s_per_call_minute)} CPU-s "
        f"at ${_plain(catalog.vcpu_hour.usd)}/vCPU-h"
    )
    return cost, text


def _minutes_cost(entry: PriceEntry | None, minutes: Decimal) -> tuple[Decimal, str]:
    if entry is None:
        return Decimal(0), "not used"
    if entry.free:
        return Decimal(0), "free"
    if entry.plan is not None:
        p = entry.plan
        over = max(Decimal(0), minutes - p.included_minutes)
        text = f"${_plain(p.base_usd)} plan ({_plain(p.included_minutes)} min included)"
        if over:
            text += f" + {_plain(over)} min x ${_plain(p.overage_per_min)}"
        return p.base_usd + over * p.overage_per_min, text
    if entry.per_minute is not None:
        return minutes * entry.per_minute, f"{_plain(minutes)} min x ${_plain(entry.per_minute)}"
    raise CatalogError([f"models: a price billed {entry.unit} cannot be applied to minutes"])


def cents(value: Decimal) -> Decimal:
    """Round half up to the cent, the way a bill is written (Python's round() goes to even)."""
    return _q(value, "0.01")


def _q(value: Decimal, step: str) -> Decimal:
    return value.quantize(Decimal(step), rounding=ROUND_HALF_UP)


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _plain(value: Decimal) -> str:
    """A human-readable amount: thousands separators, no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return f"{int(value):,}"
    text = f"{value.normalize():,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
