"""The commands' shared edge: a group, `--database-url`, loading settings, one-line failures.

Bad input ends a command as one line on stderr (URL passwords masked) and a non-zero exit, never
a traceback: `callcrew`'s own boundary (cli.py) and the commands (`db`, `outbox`, `calls`, `dial`,
`token`, `sip`, the worker's) say it through `fail`. Kept import-light (typer, settings, redact):
`--help`, `cost` and `db status` must not load LiveKit's agent framework (tests/test_lazycli.py).
"""

from __future__ import annotations

from typing import Annotated

import typer

from callcrew.redact import mask_urls
from callcrew.settings import Settings, SettingsError, load_settings

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Store to use (default: DATABASE_URL or .env)."),
]


def command_group(name: str, help: str) -> typer.Typer:
    """The `callcrew NAME ...` group of commands; bare `callcrew NAME` prints its help."""
    return typer.Typer(name=name, help=help, no_args_is_help=True, add_completion=False)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` on stderr and return the Exit to raise (`raise fail(...) from None`).

    Plain echo, never Rich markup (the message may quote user input), and URL passwords
    masked: a pasted DATABASE_URL carries one.
    """
    typer.echo(mask_urls(message), err=True)
    return typer.Exit(code)


def settings_or_exit(database_url: str | None = None) -> Settings:
    """Settings from the environment and .env, `--database-url` winning; bad ones exit 2."""
    try:
        return load_settings(database_url=database_url) if database_url else load_settings()
    except SettingsError as exc:
        raise fail(exc.render()) from None
