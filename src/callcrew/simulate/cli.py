"""`callcrew simulate`: rehearse whole calls offline and check their expectations."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from callcrew.crews import CrewNotFound, LoadedCrew, load_crew
from callcrew.errors import UserError
from callcrew.profile import ProfileError
from callcrew.redact import mask_urls
from callcrew.settings import Settings, SettingsError, load_settings
from callcrew.simulate import eval_cli
from callcrew.simulate.scenario import (
    CallsScenario,
    ScenarioError,
    expand_paths,
    load_scenarios,
)

if TYPE_CHECKING:  # the runner loads LiveKit's agent framework: only once a rehearsal starts
    from callcrew.simulate.runner import SimResult, TurnLog

# soft_wrap: long lines stay whole in CI logs and pipes instead of breaking at 80 columns.
# Caller lines, model output, tool arguments, scenario names and errors are user text: they go
# through escape() (an f-string's own markup stays) so "[a-z0-9]" prints as written and can
# never raise MarkupError mid-call. Errors go out with markup off.
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _e(value: Any) -> str:
    return escape(str(value))


def _fail(message: str) -> typer.Exit:
    # The message quotes the file (keys too), and a key may be a URL with its password.
    err.print(mask_urls(message), markup=False, style="red")
    return typer.Exit(2)


def _ms(value: Any) -> str:
    return f"{value * 1000:.0f} ms" if isinstance(value, int | float) else "-"


def print_turn(log: TurnLog) -> None:
    if log.call:
        out.print(f"[bold magenta]{_e(log.call)}[/]")
    if log.index >= 0:
        out.print(f"[bold cyan]caller[/]  {_e(log.caller)}")
    for e in log.events:
        if e["type"] == "say":
            m = e["metrics"]
            timing = f"llm ttft {_ms(m.get('llm_node_ttft'))}"
            out.print(f"[bold green]agent[/]   {_e(e['text'])}  [dim]({timing})[/]")
        elif e["type"] == "tool_call":
            out.print(f"[dim]  -> {_e(e['name'])}({_e(e['arguments'])})[/]")
        elif e["type"] == "tool_result":
            first = str(e["output"]).splitlines()[0] if e["output"] else ""
            if e["is_error"]:
                out.print(f"[yellow]  !! tool error: {_e(first)}[/]")
            elif first:
                out.print(f"[dim]  <- {_e(first[:100])}[/]")
        elif e["type"] == "handoff":
            out.print(f"[magenta]  => hand-off {_e(e['from'])} -> {_e(e['to'])}[/]")
    if log.index >= 0:
        out.print(f"[dim]  (turn {log.index + 1}: {log.wall_s * 1000:.0f} ms wall)[/]")


def print_summary(result: SimResult) -> None:
    for part in result.parts:
        out.print(f"[dim]{_e(part.scenario.label)}:[/]")
        _print_figures(part)
    if not result.parts:
        _print_figures(result)
    if result.passed:
        out.print(f"[bold green]PASS[/] {_e(result.scenario.label)}")
    else:
        out.print(f"[bold red]FAIL[/] {_e(result.scenario.label)}")
        for f in result.failures:
            out.print(f"  [red]- {_e(f)}[/]")


def _print_figures(result: SimResult) -> None:
    report = result.report
    llm_rows = [u for u in report["usage"] if u["kind"] == "llm"]
    tokens = ", ".join(
        f"{u['model']}: {u['input_tokens']} in ({u['cached_input_tokens']} cached), "
        f"{u['output_tokens']} out"
        for u in llm_rows
    )
    out.print(
        f"[dim]outcome {_e(report['outcome'])} | "
        f"agents {_e(' -> '.join(report['agents_visited']))} | "
        f"{len(result.turns)} caller turns, {result.replay_calls} model calls | "
        f"{result.wall_s:.2f} s | tokens {_e(tokens or 'none')}[/]"
    )
    if cost := report.get("cost"):
        kind = "estimated from the words spoken" if cost["estimated"] else "measured"
        parts = ", ".join(
            f"{k} ${cost[k]:.4f}" for k in ("livekit", "stt", "llm", "tts", "telephony")
        )
        out.print(
            f"[dim]cost ${cost['total']:.4f} for {cost['minutes']:.1f} min on {cost['stack']} "
            f"({_e(cost['catalog'])} prices, {kind}): {parts}[/]"
        )


def _demo_path(crew: LoadedCrew) -> Path:
    """The crew's built-in demo call (`Crew.demo_scenario`), for `simulate` with no files."""
    demo = crew.demo_scenario()
    if demo is None:
        raise UserError(
            f"crew {crew.name!r} has no demo call; name scenario files (callcrew simulate FILE)"
        )
    return Path(demo)


def simulate(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Scenario files or folders. None: the built-in demo call."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only PASS/FAIL lines.")] = False,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Use the real OpenAI-compatible LLM (LLM_BASE_URL, OPENAI_API_KEY, LLM) "
            "instead of the replay script.",
        ),
    ] = False,
    report_json: Annotated[
        Path | None, typer.Option("--report", help="Write the call report(s) as JSON here.")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Also save the call reports in this store (browse them with `callcrew calls`).",
        ),
    ] = None,
    audio: Annotated[
        bool,
        typer.Option(
            "--audio",
            help="Speak the caller's lines (espeak-ng) into the real audio path: Silero VAD, "
            "local Whisper STT, turn detection, local Hibari TTS; writes a stereo WAV "
            "(caller left, agent right) and reports WER and the caller's true wait.",
        ),
    ] = False,
    wav: Annotated[
        Path | None,
        typer.Option(
            "--wav",
            help="With --audio: where to write the WAV (default var/rehearsals/<scenario>.wav; "
            "with several scenarios, a folder).",
        ),
    ] = None,
    caller_llm: Annotated[
        bool,
        typer.Option(
            "--caller-llm",
            help="An LLM plays the caller from the scenario's 'instructions' (CALLER_LLM_MODEL, "
            "CALLER_LLM_BASE_URL); the crew uses its LLM unless the scenario scripts one.",
        ),
    ] = False,
    max_turns: Annotated[
        int | None,
        typer.Option("--max-turns", min=1, max=100, help="Caller lines at most (--caller-llm)."),
    ] = None,
    judge: Annotated[
        bool,
        typer.Option(
            "--judge",
            help="A judge LLM grades each call (JUDGE_LLM_MODEL, JUDGE_LLM_BASE_URL): "
            "agent_expectations and the named judges; a failed judge fails the scenario.",
        ),
    ] = False,
    judge_report_only: Annotated[
        bool,
        typer.Option("--judge-report-only", help="Judge and report, but never fail on it."),
    ] = False,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only scenarios with this tag (value or key=value); repeat."),
    ] = None,
) -> None:
    """Rehearse calls offline: the real crew, tools and store; a scripted (replay) model."""
    opts = eval_cli.EvalOptions(caller_llm, judge, judge_report_only, tag, max_turns)
    try:
        settings = load_settings()
        crew = load_crew(settings.crew)
        skipped: list[Path] = []
        paths = expand_paths(files, skipped) if files else [_demo_path(crew)]
        found = [s for p in paths for s in load_scenarios(p, crew)]
        scenarios, unscripted = eval_cli.select(found, opts)
        if audio:
            for s in scenarios:
                if isinstance(s, CallsScenario):
                    raise ScenarioError(
                        f"{s.label}: a calls: scenario is rehearsed in text only; drop --audio"
                    )
        eval_cli.check(settings, opts, audio=audio)
        if audio:
            problems = eval_cli.audio_problems(scenarios, opts)
            try:
                _check_audio(settings, live)
            except SettingsError as exc:
                problems = exc.problems + problems
            if problems:
                raise SettingsError(problems)
        needs_llm = live or eval_cli.needs_crew_llm(scenarios, opts)
        live_llm = _live_llm(settings) if needs_llm else None
        _check_outputs(report_json, database_url)
    except (SettingsError, ScenarioError, ProfileError, CrewNotFound, UserError) as exc:
        raise _fail(str(exc)) from None

    for path in skipped:
        out.print(
            f"[dim]skipped {path}: not a scenario "
            "(no turns:, calls:, scenarios: or instructions:)[/]"
        )
    if unscripted:
        out.print(f"[yellow]skipped (no turns; need --caller-llm): {', '.join(unscripted)}[/]")
    results: list[SimResult] = []
    for scenario in scenarios:
        if not quiet:
            out.rule(_e(f"{scenario.label}: {scenario.name}"))
        try:
            result = asyncio.run(
                _run_one(
                    scenario,
                    settings,
                    opts,
                    live_llm=live_llm,
                    database_url=database_url,
                    on_turn=None if quiet else print_turn,
                    audio=_audio_options(wav, scenario.label, len(scenarios)) if audio else None,
                )
            )
        except (ProfileError, CrewNotFound, ValueError, SettingsError, UserError) as exc:
            raise _fail(f"{scenario.label}: {exc}") from None
        results.append(result)
        if quiet:
            mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
            out.print(f"{mark} {_e(scenario.label)} ({result.wall_s:.2f} s)")
            for f in result.failures:
                out.print(f"  [red]- {_e(f)}[/]")
        else:
            if audio:
                print_audio(result)
            eval_cli.print_evaluation(out, result)
            print_summary(result)

    if report_json:
        reports = [p.report for r in results for p in (r.parts or [r])]
        text = json.dumps(reports if len(reports) > 1 else reports[0], indent=2)
        try:
            report_json.write_text(text)
        except OSError as exc:
            reason = exc.strerror or exc
            raise _fail(f"--report {report_json}: cannot write it ({reason})") from None
    failed = [r for r in results if not r.passed]
    if len(results) > 1:
        out.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


async def _run_one(
    scenario: Any, settings: Settings, opts: eval_cli.EvalOptions, **kwargs: Any
) -> SimResult:
    from callcrew.simulate.runner import run_scenario  # the agent framework: only from here

    # The model clients belong to this run's event loop: a fresh crew LLM, caller and judge.
    if kwargs.get("live_llm") is not None:
        kwargs["live_llm"] = _live_llm(settings)
    return await run_scenario(scenario, settings, **kwargs, **eval_cli.run_kwargs(settings, opts))


def _check_outputs(report_json: Path | None, database_url: str | None) -> None:
    """Refuse before rehearsing, not after: a bad --report or store would lose the run."""
    if report_json is not None:
        folder = report_json.parent
        if report_json.is_dir():
            raise UserError(f"--report {report_json}: is a folder; give a file name")
        if not folder.is_dir():
            raise UserError(f"--report {report_json}: folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise UserError(f"--report {report_json}: folder {folder} is not writable")
    if database_url:
        from callcrew.store import open_store

        open_store(database_url).close()  # creates it and its schema, or says why not


def _check_audio(settings: Settings, live: bool) -> None:
    """Every reason an audio rehearsal cannot run here, named together."""
    import shutil

    from callcrew.providers.stacks import Block, StackChoice, local_problems

    local = StackChoice(
        "local",
        Block("local", "tiny.en"),
        Block("replay", ""),
        Block("local", settings.local_tts_voice),
    )
    problems = local_problems(settings, local)
    if live:
        problems.append("--audio rehearses with the replay model; drop --live")
    if shutil.which("espeak-ng") is None:
        problems.append(
            "--audio speaks the caller with espeak-ng: apt-get install espeak-ng "
            "(or scripts/install --system)"
        )
    if problems:
        raise SettingsError(problems)


def _audio_options(wav: Path | None, label: str, count: int) -> Any:
    from callcrew.simulate.audio import AudioOptions

    if wav is not None and (count > 1 or wav.is_dir() or not wav.suffix):
        wav = wav / f"{label}.wav"
    return AudioOptions(wav=wav)


def print_audio(result: SimResult) -> None:
    """What the caller said vs what the STT heard, and each turn's latency."""
    audio = result.report.get("audio") or {}
    out.print("[bold]audio[/]")
    for row in audio.get("lines", []):
        kind = "" if row["kind"] == "turn" else f" [magenta]({row['kind']})[/]"
        rate = "-" if row.get("wer") is None else f"{row['wer']:.0%}"
        out.print(f"  [cyan]line {row['line']}[/]{kind} said  {_e(row['said'])}")
        out.print(f"          heard {_e(row['heard'] or '(nothing)')}  [dim](WER {rate})[/]")
        if row["kind"] in ("turn", "barge_in"):
            out.print(
                f"          [dim]true wait {_ms(row.get('true_wait_s'))} | LiveKit e2e "
                f"{_ms(row.get('e2e_latency'))} | end of turn {_ms(row.get('end_of_turn_delay'))}"
                f" | transcription {_ms(row.get('transcription_delay'))} | LLM TTFT "
                f"{_ms(row.get('llm_node_ttft'))} | TTS TTFB {_ms(row.get('tts_node_ttfb'))}[/]"
            )
        if row["kind"] == "barge_in":
            out.print(
                f"          [dim]agent stopped after {_ms(row.get('time_to_stop_s'))} "
                f"(output cleared after {_ms(row.get('time_to_clear_s'))}); interrupted: "
                f"{_e(repr(row.get('interrupted_agent_text')))}[/]"
            )
        if row["kind"] == "backchannel":
            out.print(
                f"          [dim]agent cut off: {row.get('agent_cut_off')}; paused after "
                f"{_ms(row.get('time_to_pause_s'))}[/]"
            )
    wer_all = audio.get("wer")
    out.print(
        f"[dim]STT WER {'-' if wer_all is None else f'{wer_all:.1%}'} over the caller's turns | "
        f"STT RTF {audio.get('stt_rtf')} | TTS RTF {audio.get('tts_rtf')} | "
        f"WAV {audio.get('wav')} ({audio.get('wav_seconds')} s, caller left, agent right)[/]"
    )


def _live_llm(settings: Settings) -> Any:
    from callcrew.providers.stacks import live_llm_from_settings

    return live_llm_from_settings(settings)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
