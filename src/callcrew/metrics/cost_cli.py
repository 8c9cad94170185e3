"""`callcrew cost`: plan a month of calls before launch (the contract is in DESIGN.md)."""

from __future__ import annotations

import dataclasses
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callcrew.metrics.planner import (
    PlanInputs,
    PlanResult,
    cents,
    plan,
    self_hosted_stack,
    with_vcpu_price,
)
from callcrew.metrics.pricing import CatalogError, load_catalog
from callcrew.redact import mask_urls

# PlanInputs keeps the fixture's field names; the command keeps the contract's option names.
_OPTION_FOR = {
    "agents": "--agents",
    "calls_per_agent_per_day": "--calls-per-day",
    "business_days": "--days",
    "call_minutes": "--call-minutes",
    "agent_talk_share": "--agent-talk-share",
    "llm_turns_per_call": "--turns",
    "system_prompt_tokens": "--system-prompt-tokens",
    "non_cached_input_tokens_per_call": "--input-tokens",
    "output_tokens_per_call": "--output-tokens",
    "calls_per_hour": "--calls-per-hour",
    "discount": "--discount",
    "tts_characters_per_minute": "--tts-chars-per-minute",
    "stt_billing": "--stt-billing",
}

_LABELS = {
    "livekit": "LiveKit",
    "stt": "STT",
    "llm": "LLM",
    "tts": "TTS",
    "telephony": "Telephony",
}


def _default(field: str) -> Any:
    value = PlanInputs.model_fields[field].default
    return float(value) if isinstance(value, Decimal) else value


def cost(
    stack: str = typer.Option(
        "economy", "--stack", help="Stack in the price catalog: economy, premium, local, or yours."
    ),
    agents: int = typer.Option(_default("agents"), "--agents", help="Agents working in parallel."),
    calls_per_day: int = typer.Option(
        _default("calls_per_agent_per_day"),
        "--calls-per-day",
        help="Calls PER AGENT per business day (monthly calls = agents x this x days).",
    ),
    days: int = typer.Option(
        _default("business_days"), "--days", help="Business days in the month."
    ),
    call_minutes: float = typer.Option(
        _default("call_minutes"), "--call-minutes", help="Average call length in minutes."
    ),
    agent_talk_share: float = typer.Option(
        _default("agent_talk_share"),
        "--agent-talk-share",
        help="Share of each call the agent speaks, 0-1 (TTS minutes; the rest is STT).",
    ),
    turns: int = typer.Option(
        _default("llm_turns_per_call"),
        "--turns",
        help="LLM requests per call; each resends the system prompt at the cached rate.",
    ),
    system_prompt_tokens: int = typer.Option(
        _default("system_prompt_tokens"), "--system-prompt-tokens", help="System prompt size."
    ),
    input_tokens: int = typer.Option(
        _default("non_cached_input_tokens_per_call"),
        "--input-tokens",
        help="Non-cached input tokens per call (conversation context).",
    ),
    output_tokens: int = typer.Option(
        _default("output_tokens_per_call"), "--output-tokens", help="Output tokens per call."
    ),
    calls_per_hour: float = typer.Option(
        _default("calls_per_hour"), "--calls-per-hour", help="Calls per agent-hour (per hour)."
    ),
    discount: float = typer.Option(
        _default("discount"), "--discount", help="Negotiated discount on the total, 0 to <1."
    ),
    tts_chars_per_minute: float | None = typer.Option(
        None, "--tts-chars-per-minute", help="Only for a TTS billed per character."
    ),
    prices: str | None = typer.Option(
        None,
        "--prices",
        envvar="PRICES_FILE",
        help="Price catalog: 'current' (default), 'seed-2025-05', or a YAML file path.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object, nothing else."),
    stt_billing: str = typer.Option(
        _default("stt_billing"),
        "--stt-billing",
        help="STT minutes billed: 'speech' (caller speech, the seed's rule; a VAD-gated input), "
        "'streamed' (the whole call, a streaming STT fed every frame), 'catalog' (the entry's).",
    ),
    self_hosted: bool = typer.Option(
        False,
        "--self-hosted",
        help="LiveKit server + SIP on your machines, priced by compute instead of the Cloud plan.",
    ),
    vcpu_hour_usd: float | None = typer.Option(
        None,
        "--vcpu-hour-usd",
        envvar="VCPU_HOUR_USD",
        help="USD per vCPU-hour for self-run software (default: the catalog's).",
    ),
) -> None:
    """Plan a month's cost of calls for a stack: components, total, per call and per hour."""
    try:
        inputs = PlanInputs.model_validate(
            {
                "agents": agents,
                "calls_per_agent_per_day": calls_per_day,
                "business_days": days,
                "call_minutes": call_minutes,
                "agent_talk_share": agent_talk_share,
                "llm_turns_per_call": turns,
                "system_prompt_tokens": system_prompt_tokens,
                "non_cached_input_tokens_per_call": input_tokens,
                "output_tokens_per_call": output_tokens,
                "calls_per_hour": calls_per_hour,
                "discount": discount,
                "tts_characters_per_minute": tts_chars_per_minute,
                "stt_billing": stt_billing,
            }
        )
    except ValidationError as exc:
        _fail([_explain(e) for e in exc.errors()])
    try:
        catalog = with_vcpu_price(load_catalog(prices), vcpu_hour_usd)
        chosen = self_hosted_stack(catalog, stack) if self_hosted else stack
        result = plan(inputs, catalog, chosen)
    except CatalogError as exc:
        _fail(exc.problems)
    if self_hosted:
        result = dataclasses.replace(result, stack=stack)

    if as_json:
        typer.echo(json.dumps(result.to_json()))
    else:
        _print_table(result)


def register(app: typer.Typer) -> None:
    app.command("cost")(cost)


def _fail(problems: list[str]) -> NoReturn:
    for problem in problems:
        typer.echo(mask_urls(f"error: {problem}"), err=True)
    raise typer.Exit(2)


def _explain(err: Any) -> str:
    field = str(err["loc"][0]) if err.get("loc") else ""
    option = _OPTION_FOR.get(field, field)
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{option}: {msg} (got {err.get('input')!r})"


def _usd(value: Decimal | None, places: str = "0.01") -> str:
    if value is None:
        return "n/a (no calls)"
    if places == "0.01":
        return f"${cents(value):,.2f}"
    return f"${value.quantize(Decimal(places), rounding=ROUND_HALF_UP):,}"


def _print_table(r: PlanResult) -> None:
    i = r.inputs
    console = Console()
    # Stack names, labels and "priced as" come from price files: Text, never markup.
    table = Table(title=Text(f"callcrew cost: {r.stack} ({r.label})"), title_justify="left")
    table.add_column("Component")
    table.add_column("Priced as", overflow="fold")
    table.add_column("USD / month", justify="right")
    table.add_column("Rule", overflow="fold")
    for component, amount in r.components.items():
        table.add_row(
            _LABELS[component], Text(r.basis[component]), _usd(amount), Text(r.rules[component])
        )
    table.add_section()
    if i.discount:
        table.add_row("Subtotal", "list prices", _usd(r.subtotal))
        table.add_row(
            "Discount", f"{_g(i.discount * 100)}% off the total", f"-{_usd(r.discount_usd)}"
        )
    table.add_row("[bold]Total[/bold]", "", f"[bold]{_usd(r.total)}[/bold]")
    table.add_row("Per call", f"{r.calls:,} calls", _usd(r.per_call, "0.0001"))
    table.add_row("Per hour", f"{_g(i.calls_per_hour)} calls an hour", _usd(r.per_hour))
    console.print(table)
    console.print(
        f"Inputs: {i.agents} agents x {i.calls_per_agent_per_day} calls/agent/day x "
        f"{i.business_days} days = {r.calls:,} calls of {_g(i.call_minutes)} min "
        f"({_n(r.minutes)} min); agent talks {_g(i.agent_talk_share * 100)}% "
        f"(TTS {_n(r.tts_minutes)} min, STT {_n(r.stt_minutes)} min); "
        f"LLM {i.llm_turns_per_call} turns x {i.system_prompt_tokens:,} cached prompt tokens "
        f"+ {i.non_cached_input_tokens_per_call:,} input + {i.output_tokens_per_call:,} output "
        f"tokens a call.",
        highlight=False,
    )
    console.print(f"Prices: catalog {r.catalog}.", highlight=False, markup=False)


def _n(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.1f}"


def _g(value: Decimal) -> str:
    """20.0 -> "20", 2.50 -> "2.5": inputs arrive as floats but read better without the tail."""
    text = f"{value.normalize():f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
