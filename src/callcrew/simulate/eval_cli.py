"""The evaluation side of `callcrew simulate`: --caller-llm, --judge, --tag, and what they print.

Kept beside simulate/cli.py so that file only gains option hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from callcrew.settings import Settings, SettingsError
from callcrew.simulate.frontdesk import select_tags
from callcrew.simulate.scenario import Scenario, ScenarioError

if TYPE_CHECKING:  # the runner loads LiveKit's agent framework: `simulate` imports it as it runs
    from callcrew.simulate.runner import SimResult


@dataclass
class EvalOptions:
    caller_llm: bool = False
    judge: bool = False
    judge_report_only: bool = False
    tags: list[str] | None = None
    max_turns: int | None = None

    @property
    def judging(self) -> bool:
        return self.judge or self.judge_report_only


def scripted(s: Scenario) -> bool:
    """Caller lines are written out: `turns`, or the `calls:` of a multi-call file."""
    return bool(s.turns) or bool(getattr(s, "calls", None))


def select(scenarios: list[Scenario], opts: EvalOptions) -> tuple[list[Scenario], list[str]]:
    """The scenarios to run, and the labels of those left out because they need --caller-llm;
    a ScenarioError when nothing can run as asked."""
    chosen = select_tags(scenarios, opts.tags or [])
    if opts.tags and not chosen:
        raise ScenarioError(f"no scenario has the tag(s) {', '.join(opts.tags)}")
    if not opts.caller_llm:
        unscripted = [s.label for s in chosen if not scripted(s)]
        if unscripted and len(unscripted) == len(chosen):
            raise ScenarioError(
                f"{', '.join(unscripted)}: no 'turns'; the caller is described by "
                "'instructions', so run with --caller-llm (an LLM plays the caller)"
            )
        # A folder mixing both runs its scripted calls and says what it left out.
        return [s for s in chosen if scripted(s)], unscripted
    return chosen, []


def check(settings: Settings, opts: EvalOptions, *, audio: bool) -> None:
    """Every reason the evaluation cannot run here, named together (exit 2 upstream)."""
    from callcrew.metrics.side_llm import side_problems

    problems: list[str] = []
    if opts.caller_llm:
        problems += side_problems(settings, "caller")
    if opts.judging:
        problems += side_problems(settings, "judge")
    if problems:
        raise SettingsError(problems)


def audio_problems(scenarios: list[Scenario], opts: EvalOptions) -> list[str]:
    """--audio rehearses with the replay model: an LLM caller speaks a scripted crew's lines."""
    if not opts.caller_llm:
        return []
    bare = [
        s.label
        for s in scenarios
        if not getattr(s, "calls", None) and not any(t.agent for t in s.turns)
    ]
    if not bare:
        return []
    return [
        f"--audio --caller-llm needs a replay script (turns with 'agent:' steps); "
        f"{', '.join(bare)} has none: run it in text mode"
    ]


def needs_crew_llm(scenarios: list[Scenario], opts: EvalOptions) -> bool:
    """An LLM-played caller against a scenario without a replay script needs the crew's LLM."""
    return opts.caller_llm and any(
        not getattr(s, "calls", None) and not any(t.agent for t in s.turns) and not s.opening
        for s in scenarios
    )


def run_kwargs(settings: Settings, opts: EvalOptions) -> dict[str, Any]:
    """Fresh caller and judge per scenario (each run has its own event loop and clients)."""
    kwargs: dict[str, Any] = {}
    if opts.caller_llm:
        from callcrew.simulate.caller_llm import CallerLLM

        kwargs["caller"] = CallerLLM(settings, max_turns=opts.max_turns)
    if opts.judging:
        from callcrew.simulate.judges import JudgePanel

        kwargs["judges"] = JudgePanel(settings, report_only=opts.judge_report_only)
    return kwargs


_MARK = {"pass": "[green]pass[/]", "fail": "[red]fail[/]", "maybe": "[yellow]maybe[/]"}


def print_evaluation(out: Console, result: SimResult) -> None:
    report = result.report
    caller = (report.get("rehearsal") or {}).get("caller_llm")
    if caller:
        out.print(
            f"[dim]caller LLM {escape(caller['model'])}: {caller['caller_lines']} lines, "
            f"ended because {escape(caller['ended'])}[/]"
        )
    judged = report.get("judges")
    if judged:
        note = " (report only)" if judged["report_only"] else ""
        out.print(f"[bold]judges[/] [dim]{escape(judged['model'])}{note}[/]")
        for v in judged["verdicts"]:
            mark = _MARK.get(v["verdict"], "[red]error[/]")
            out.print(f"  {mark} {escape(v['name'])}: {escape(v['reasoning'])}")
    elif result.scenario.agent_expectations:
        out.print("[dim]agent_expectations not judged (add --judge)[/]")
    if ev := report.get("evaluation"):
        parts = ", ".join(
            f"{r['role']} {r['model']}: {r['input_tokens']} in ({r['cached_input_tokens']} "
            f"cached), {r['output_tokens']} out, "
            + ("unpriced" if r["usd"] is None else f"${r['usd']:.4f}")
            for r in ev["usage"]
        )
        out.print(f"[dim]evaluation cost ${ev['usd']:.4f}: {escape(parts)}[/]")
