"""The `callcrew` command: one Typer app; each command lives beside the module it drives."""

from __future__ import annotations

import typer

from callcrew.metrics import cost_cli

app = typer.Typer(
    name="callcrew",
    help="A phone voice-agent service on LiveKit Agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

cost_cli.register(app)


def main() -> None:
    app()
