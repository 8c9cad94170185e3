"""`callcrew calls stats`, printed: totals, cost, outcomes, the latency and the seed's tables."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from callcrew.metrics import stats
from callcrew.metrics.calls_format import usd
from callcrew.metrics.plan_check import StackCheck, plan_tables

_METRIC_LABELS = {
    "end_of_turn_delay": "end of turn delay",
    "transcription_delay": "transcription delay",
    "llm_node_ttft": "LLM TTFT",
    "tts_node_ttfb": "TTS TTFB",
    "e2e_latency": "e2e (LiveKit, VAD anchor)",
    "true_wait_s": "true wait",
    "llm_tokens_per_s": "LLM tokens/s",
}


def _fig(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if metric == "llm_tokens_per_s" else f"{value:.3f}"


def print_stats(
    out: Console, summary: stats.Summary, checks: list[StackCheck], described: str
) -> None:
    """Everything `calls stats` prints without --json."""
    out.print(
        f"[bold]{summary.calls} calls[/], {summary.call_hours:.2f} h of call time"
        + (f" ({described})" if described else "")
    )
    if summary.priced_calls:
        cpc = summary.cost_per_call
        estimated = (
            f", {summary.estimated_calls} estimated from the words spoken"
            if summary.estimated_calls
            else ""
        )
        out.print(
            f"cost {usd(summary.cost_usd, 2)} over {summary.priced_calls} priced calls"
            f"{estimated}; per call p50 {usd(cpc.p50)}, "
            f"mean {usd(summary.cost_usd / summary.priced_calls)}, p95 {usd(cpc.p95)}; "
            f"per hour of call time {usd(summary.cost_per_hour, 2)}"
        )
    else:
        out.print("cost: no call is priced")
    out.print("outcomes: " + ", ".join(f"{k} {v}" for k, v in summary.outcomes.items()))
    out.print("channels: " + ", ".join(f"{k} {v}" for k, v in summary.channels.items()))

    table = Table(title="latency, seconds", title_justify="left", header_style="bold")
    table.add_column("metric")
    for part in ("first", "later"):
        for what in ("p50", "p95", "n"):
            table.add_column(f"{part} {what}", justify="right")
    for metric, lat in summary.latency.items():
        if lat.first.n == 0 and lat.later.n == 0:
            continue
        table.add_row(
            _METRIC_LABELS[metric],
            _fig(lat.first.p50, metric),
            _fig(lat.first.p95, metric),
            str(lat.first.n),
            _fig(lat.later.p50, metric),
            _fig(lat.later.p95, metric),
            str(lat.later.n),
        )
    if table.row_count:
        out.print(table)
    else:
        out.print("[dim]no per-turn latency recorded (text rehearsals measure only the LLM)[/]")

    seed = Table(
        title="by stack, in the seed's latency table (min-max)",
        title_justify="left",
        header_style="bold",
    )
    for name in ("stack", "calls", "TTFT first", "TTFT next", "TTS TTFB", "first byte (e2e)"):
        seed.add_column(name, justify="left" if name == "stack" else "right")
    seed.add_column("tokens/s", justify="right")
    for row in summary.by_stack:
        seed.add_row(*(escape(str(row[c])) for c in stats.SEED_COLUMNS))
    out.print(seed)
    out.print(
        "[dim]first = each call's first measured turn (it pays for the whole prompt); "
        "e2e/first byte is LiveKit's, from the VAD's end-of-speech estimate (~100 ms after the "
        "caller really stopped).[/]"
    )
    for plan_table in plan_tables(checks):
        out.print(plan_table)
    if len(summary.stacks) > 1:
        out.print(
            f"[dim]The latency table mixes {len(summary.stacks)} stacks "
            f"({', '.join(summary.stacks)}); --stack NAME shows one.[/]"
        )
