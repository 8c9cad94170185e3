"""Measured vs planned: what calls really cost beside what the planner predicts for them.

For each stack, every priced report is compared with the planner's prediction for a call of the
same profile: its minutes, the agent's talk share, its turns (agent messages), and its channel.
The prediction applies the planner's rules (STT on caller-speech or on all minutes, TTS on the
agent's share, turns x system prompt + input + output tokens, the cache minimum) with the
planner's other inputs at their defaults (the seed's assumptions), and is priced per call the way
a measured call is (`price_call`: plans at their overage rate, the channel's SIP leg). So a
flagged line is a usage assumption that does not hold (streamed STT audio, a short prompt, the
phrase cache), never a difference of accounting.

`compare_to_plan` returns typed models (pydantic) for `callcrew calls stats` and the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from callcrew.metrics.call_cost import SPOKEN_CHARS_PER_SECOND, usage_from_report
from callcrew.metrics.planner import PlanInputs, self_hosted_stack
from callcrew.metrics.pricing import (
    COMPONENTS,
    CallUsage,
    Catalog,
    CatalogError,
    Component,
    Stack,
    TokenUsage,
    load_catalog,
    price_call,
)

FLAG_ABOVE = 0.10  # a line that differs by more than this share of the prediction is flagged
_CHARS_PER_S = SPOKEN_CHARS_PER_SECOND  # for a TTS billed per character, and cached phrases


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class CallProfile(_Model):
    """The planner inputs this stack's calls measured (means over its priced calls)."""

    calls: int
    minutes: float
    agent_talk_share: float
    turns: float
    stt_minutes_measured: float  # STT audio the provider was sent (or estimated), per call


class LineCheck(_Model):
    component: str
    measured_per_call: float
    planned_per_call: float
    difference: float | None  # (measured - planned) / planned; None when the plan is 0
    flagged: bool
    rule: str  # the planner's rule for this line


class StackCheck(_Model):
    stack: str
    catalog: str
    estimated: bool  # any call priced from words (a text rehearsal), not from measured usage
    profile: CallProfile
    measured_per_call: float
    planned_per_call: float
    measured_per_minute: float | None
    planned_per_minute: float | None
    lines: list[LineCheck]

    @property
    def flagged(self) -> list[str]:
        return [line.component for line in self.lines if line.flagged]


def compare_to_plan(
    reports: Sequence[dict[str, Any]],
    *,
    catalog: Catalog | None = None,
    stt_billing: Literal["speech", "streamed", "catalog"] = "speech",
    flag_above: float = FLAG_ABOVE,
) -> list[StackCheck]:
    """One StackCheck per stack with priced reports, in stack-name order."""
    by_stack: dict[tuple[str, str, bool], list[dict[str, Any]]] = {}
    for report in reports:
        cost = report.get("cost")
        if isinstance(cost, dict) and cost.get("stack") and cost.get("catalog"):
            own = cost.get("livekit_hosting") == "self-hosted"
            key = (str(cost["stack"]), str(cost["catalog"]), own)
            by_stack.setdefault(key, []).append(report)
    checks = []
    for (name, catalog_name, own), group in sorted(by_stack.items()):
        try:
            cat = catalog or load_catalog(catalog_name)
            stack = self_hosted_stack(cat, name) if own else cat.stack(name)
        except CatalogError:
            continue  # priced by a catalog or stack this install does not have
        label = f"{name} (self-hosted LiveKit)" if own else name
        checks.append(_check(label, stack, cat, group, stt_billing, flag_above))
    return checks


def _check(
    label: str,
    stack: Stack,
    catalog: Catalog,
    reports: list[dict[str, Any]],
    stt_billing: Literal["speech", "streamed", "catalog"],
    flag_above: float,
) -> StackCheck:
    defaults = PlanInputs(stt_billing=stt_billing)
    measured = dict.fromkeys(COMPONENTS, 0.0)
    planned = dict.fromkeys(COMPONENTS, 0.0)
    minutes = talk = turns = stt_min = 0.0
    estimated = False
    for report in reports:
        cost = report["cost"]
        estimated = estimated or bool(cost.get("estimated"))
        for c in COMPONENTS:
            measured[c] += float(cost.get(c) or 0.0)
        usage = usage_from_report(
            report, catalog, stack, estimate_speech=bool(cost.get("estimated"))
        )
        call_min = float(cost.get("minutes") or usage.duration_s / 60)
        cached_s = (
            sum(
                len(t)
                for t in report.get("notes", {}).get("phrase_cache", {}).get("cached_texts", [])
            )
            / _CHARS_PER_S
        )
        agent_s = usage.tts_audio_s + (usage.cached_tts_audio_s or cached_s)
        share = min(1.0, agent_s / (call_min * 60)) if call_min else 0.0
        n_turns = len(report.get("turns") or [])
        predicted = _predicted_usage(catalog, stack, defaults, call_min, share, n_turns)
        plan_cost = price_call(predicted, catalog, stack, channel=report["channel"])
        for c in COMPONENTS:
            planned[c] += getattr(plan_cost, c)
        minutes, talk, turns = minutes + call_min, talk + share, turns + n_turns
        stt_min += usage.stt_audio_s / 60
    n = len(reports)
    lines = []
    for c in COMPONENTS:
        m, p = measured[c] / n, planned[c] / n
        diff = (m - p) / p if p else None
        lines.append(
            LineCheck(
                component=c,
                measured_per_call=round(m, 6),
                planned_per_call=round(p, 6),
                difference=None if diff is None else round(diff, 4),
                flagged=(abs(diff) > flag_above) if diff is not None else m > 0,
                rule=_rule(catalog, stack, c, defaults),
            )
        )
    m_total, p_total = sum(measured.values()) / n, sum(planned.values()) / n
    mean_min = minutes / n
    return StackCheck(
        stack=label,
        catalog=catalog.catalog,
        estimated=estimated,
        profile=CallProfile(
            calls=n,
            minutes=round(mean_min, 3),
            agent_talk_share=round(talk / n, 3),
            turns=round(turns / n, 2),
            stt_minutes_measured=round(stt_min / n, 3),
        ),
        measured_per_call=round(m_total, 6),
        planned_per_call=round(p_total, 6),
        measured_per_minute=round(m_total / mean_min, 6) if mean_min else None,
        planned_per_minute=round(p_total / mean_min, 6) if mean_min else None,
        lines=lines,
    )


def _predicted_usage(
    catalog: Catalog, stack: Stack, inputs: PlanInputs, minutes: float, share: float, turns: int
) -> CallUsage:
    """The usage the planner's rules assume for one call of this profile."""
    entry = catalog.price(stack.stt)
    billed = inputs.stt_billing if inputs.stt_billing != "catalog" else entry.billed_on or "speech"
    seconds = minutes * 60
    agent_s = seconds * share
    llm_id = stack.llm
    llm_entry = catalog.price(llm_id)
    cached = inputs.system_prompt_tokens >= (llm_entry.cache_min_tokens or 0)
    prompt = turns * inputs.system_prompt_tokens
    # The seed's non-cached input and output are per 6-turn call; scale them with the turns.
    per_turn = Decimal(turns) / Decimal(max(inputs.llm_turns_per_call, 1))
    fresh = int(inputs.non_cached_input_tokens_per_call * per_turn)
    output = int(inputs.output_tokens_per_call * per_turn)
    return CallUsage(
        duration_s=seconds,
        stt_audio_s=seconds if billed == "streamed" else seconds - agent_s,
        tts_audio_s=agent_s,
        tts_characters=int(agent_s * _CHARS_PER_S),
        llm={
            llm_id: TokenUsage(
                input=prompt + fresh, cached_input=prompt if cached else 0, output=output
            )
        },
    )


def _rule(catalog: Catalog, stack: Stack, component: Component, inputs: PlanInputs) -> str:
    model_id = stack.model_for(component)
    if model_id is None:
        return "not used"
    entry = catalog.price(model_id)
    if entry.free:
        return "free"
    if entry.compute is not None:
        return "compute per call-minute"
    if component == "stt":
        billed = inputs.stt_billing if inputs.stt_billing != "catalog" else entry.billed_on
        return "STT on every minute" if billed == "streamed" else "STT on caller speech"
    if component == "tts":
        return "TTS per character" if entry.per_character is not None else "TTS on agent speech"
    if component == "llm":
        return "turns x system prompt + input + output tokens"
    if component == "telephony":
        return "the call's SIP leg per minute"
    return "plan overage per minute" if entry.plan is not None else "per minute"


def plan_tables(checks: Sequence[StackCheck]) -> list[Any]:
    """Rich tables for `callcrew calls stats`, one per stack; a flagged line is marked."""
    from rich.table import Table

    tables = []
    for check in checks:
        p = check.profile
        title = (
            f"{check.stack}: measured vs planned per call ({p.calls} calls, {p.minutes:.2f} min, "
            f"agent talks {p.agent_talk_share:.0%}, {p.turns:g} turns"
            f"{'; usage estimated from words' if check.estimated else ''})"
        )
        table = Table(title=title, title_justify="left", header_style="bold")
        for name in ("line", "measured", "planned", "difference", "planner's rule"):
            table.add_column(
                name, justify="left" if name in ("line", "planner's rule") else "right"
            )
        for line in check.lines:
            diff = "-" if line.difference is None else f"{line.difference:+.0%}"
            mark = " [bold red]> 10 %[/]" if line.flagged else ""
            table.add_row(
                line.component,
                f"${line.measured_per_call:.4f}",
                f"${line.planned_per_call:.4f}",
                diff + mark,
                line.rule,
            )
        table.add_section()
        table.add_row(
            "per call", f"${check.measured_per_call:.4f}", f"${check.planned_per_call:.4f}", "", ""
        )
        if check.measured_per_minute is not None and check.planned_per_minute is not None:
            table.add_row(
                "per minute",
                f"${check.measured_per_minute:.4f}",
                f"${check.planned_per_minute:.4f}",
                "",
                "",
            )
        tables.append(table)
    return tables
