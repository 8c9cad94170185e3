"""`callcrew calls analyze ID|--since AGE`: (re-)run post-call analysis on stored calls, and
the `analysis` section of `calls show`."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from callcrew.cli_boundary import DatabaseUrl
from callcrew.metrics import calls_cli
from callcrew.profile import ProfileError, load_profile
from callcrew.settings import SettingsError, load_settings


def print_analysis(out: Console, report: dict[str, Any]) -> None:
    if judged := report.get("judges"):  # a rehearsal graded by `simulate --judge`
        out.rule("judges", align="left")
        for v in judged.get("verdicts", []):
            out.print(
                f"{escape(str(v.get('verdict')))} {escape(str(v.get('name')))}: "
                f"{escape(str(v.get('reasoning')))}"
            )
    block = report.get("analysis")
    if not block:
        return
    out.rule("analysis", align="left")
    if skipped := block.get("skipped"):
        out.print(f"[dim]skipped: {escape(str(skipped))}[/]")
        return
    if error := block.get("error"):
        out.print(f"[red]failed: {escape(str(error))}[/]")
    else:
        mark = {True: "[green]success[/]", False: "[red]not a success[/]"}
        out.print(
            f"{mark.get(block.get('success'), '[yellow]success unknown[/]')}: "
            f"{escape(str(block.get('success_reason', '')))}"
        )
        out.print(f"summary: {escape(str(block.get('summary', '')))}")
        for key, value in (block.get("data") or {}).items():
            out.print(f"  {escape(str(key))}: {escape(str(value))}")
    if usage := block.get("usage"):
        usd = "unpriced" if usage.get("usd") is None else f"${usage['usd']:.6f}"
        out.print(
            f"[dim]{escape(str(usage.get('model')))}: {usage.get('input_tokens')} in, "
            f"{usage.get('output_tokens')} out, {usd}, {block.get('elapsed_s')} s[/]"
        )


def analyze(
    call_id: Annotated[str | None, typer.Argument(help="One call id (or use --since).")] = None,
    since: calls_cli.Since = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="Calls at most.")] = 100,
    database_url: DatabaseUrl = None,
) -> None:
    """Run post-call analysis again on stored calls (ANALYSIS_LLM_*), updating the store."""
    # The analysis LLM loads LiveKit's agent framework: not for `calls --help` or `calls list`.
    from callcrew.metrics.analysis import analyse, spec_for
    from callcrew.metrics.side_llm import side_problems

    calls_cli._consoles()
    out, err = calls_cli.out, calls_cli.err
    if (call_id is None) == (since is None):
        err.print("[red]Give one call id, or --since (e.g. --since 24h), not both.[/]")
        raise typer.Exit(2)
    try:
        settings = load_settings()
        if problems := side_problems(settings, "analysis"):
            raise SettingsError(problems)
        profile = load_profile(settings.business_profile, settings.crew)
    except SettingsError as exc:
        err.print(escape(exc.render()))
        raise typer.Exit(2) from None
    except ProfileError as exc:
        err.print(f"[red]{escape(str(exc))}[/]")
        raise typer.Exit(2) from None
    when = calls_cli._since(since)
    with calls_cli._store(database_url, write=True) as store:
        if store is None:
            reports: list[dict[str, Any]] = []
        elif call_id is not None:
            one = store.reports.get(call_id.strip())
            reports = [one] if one else []
        else:
            reports = store.reports.list(since=when, limit=limit)
        if store is None or not reports:
            err.print("[red]No such call in the store.[/]" if call_id else "No calls to analyse.")
            raise typer.Exit(1 if call_id else 0)
        spec = spec_for(profile)
        failed = 0
        total = 0.0
        for report in reports:
            block = asyncio.run(analyse(report, settings, spec, profile.name))
            report["analysis"] = block
            store.reports.save(report)
            total += (block.get("usage") or {}).get("usd") or 0.0
            failed += "error" in block
            state = (
                "error"
                if "error" in block
                else "skipped"
                if "skipped" in block
                else ("success" if block.get("success") else "no success")
            )
            detail = block.get("error") or block.get("skipped") or block.get("summary", "")
            out.print(f"{escape(str(report['call_id']))}  {state}  {escape(str(detail))}")
    out.print(f"[dim]{len(reports)} analysed, {failed} failed, ${total:.6f}[/]")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("analyze")(analyze)
