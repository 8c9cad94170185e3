"""`callcrew start | dev | console | download-files`: LiveKit's own CLI, wrapped.

LiveKit's CLI logs an error and exits 0 when LIVEKIT_URL is missing; a service manager would
think all is well. Here every missing setting is named and the exit status is non-zero.
"""

from __future__ import annotations

import ctypes.util
import dataclasses
import os
import sys
from typing import Annotated

import typer

from callcrew.cli_boundary import fail
from callcrew.providers.stacks import Block, missing_keys, resolve_stack
from callcrew.settings import Settings, SettingsError, load_settings

PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


def check_worker_settings(settings: Settings) -> None:
    """Every problem that would stop a worker from taking calls, reported together."""
    from callcrew.metrics.webhook import webhook_problems
    from callcrew.profile import ProfileError, load_profile
    from callcrew.providers.agent_providers import missing_agent_keys

    problems = settings.livekit_problems() + webhook_problems(settings)
    try:
        choice = resolve_stack(settings)
        problems += missing_keys(settings, choice)
        # The crew's agents may name their own providers (and so need their keys) in the profile.
        section = load_profile(settings.business_profile, settings.crew).section
        problems += missing_agent_keys(settings, choice, section)
    except SettingsError as exc:
        problems += exc.problems
    except ProfileError as exc:
        problems.append(str(exc))
    if problems:
        raise SettingsError(problems)


def _run_livekit(command: str, extra: list[str], *, needs_livekit: bool) -> None:
    try:
        settings = load_settings()
        if needs_livekit:
            check_worker_settings(settings)
        from callcrew.worker import build_server

        server = build_server(settings)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    from livekit.agents import cli

    _register_plugins()
    sys.argv = ["callcrew", command, *extra]
    cli.run_app(server)


def _register_plugins() -> None:
    """LiveKit plugins register themselves on import and refuse to outside the main thread;
    the console runs its job in a thread, so import every plugin a stack may use here."""
    import importlib

    for name in ("silero", "openai", "deepgram", "cartesia", "elevenlabs"):
        importlib.import_module(f"livekit.plugins.{name}")


def start(ctx: typer.Context) -> None:
    """Run the worker in production mode (extra options go to LiveKit's CLI)."""
    _run_livekit("start", ctx.args, needs_livekit=True)


def dev(ctx: typer.Context) -> None:
    """Run the worker in development mode (extra options go to LiveKit's CLI)."""
    _run_livekit("dev", ctx.args, needs_livekit=True)


def console(
    ctx: typer.Context,
    text: Annotated[bool, typer.Option("--text", help="Type instead of speaking.")] = False,
) -> None:
    """Talk to the crew in this terminal (audio needs a sound device; --text does not)."""
    if ctypes.util.find_library("portaudio") is None:
        raise fail(
            "the console needs the PortAudio library even in text mode: "
            "apt-get install libportaudio2 (or scripts/install --system)"
        )
    if not sys.stdin.isatty():
        raise fail("the console needs an interactive terminal (a TTY)")
    if not text:
        import sounddevice  # type: ignore[import-untyped]

        try:
            has_input = any(d["max_input_channels"] > 0 for d in sounddevice.query_devices())
        except Exception:
            has_input = False
        if not has_input:
            raise fail("no audio input device found; use `callcrew console --text`")
    try:
        # Name what the console lacks now rather than fail on the first turn.
        problems = console_problems(load_settings(), text=text)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    if problems:
        raise fail(SettingsError(problems).render())
    from callcrew.worker import TEXT_ONLY_ENV

    if text:
        # Typed lines in, text out: the session is built without STT and TTS.
        os.environ[TEXT_ONLY_ENV] = "1"
    _run_livekit("console", [*(["--text"] if text else []), *ctx.args], needs_livekit=False)


def console_problems(settings: Settings, *, text: bool) -> list[str]:
    """What the console needs: the whole stack (STACK=local: Whisper, Hibari, LLM_BASE_URL's
    model) to speak, only the LLM to type."""
    choice = resolve_stack(settings)
    if text:
        # Blocks of no known provider need no key: only the LLM is checked.
        unused = Block("none", "")
        choice = dataclasses.replace(choice, stt=unused, tts=unused)
    return missing_keys(settings, choice)


def download_files() -> None:
    """Fetch the plugins' model files (run at image build time; needs the internet)."""
    _run_livekit("download-files", [], needs_livekit=False)


def register(app: typer.Typer) -> None:
    app.command("start", context_settings=PASS_THROUGH)(start)
    app.command("dev", context_settings=PASS_THROUGH)(dev)
    app.command("console", context_settings=PASS_THROUGH)(console)
    app.command("download-files")(download_files)
