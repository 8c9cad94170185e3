"""The `callcrew` command: one Typer app; each command lives beside the module it drives."""

from __future__ import annotations

import typer

from callcrew import livekit_cli
from callcrew.dashboard import cli as dashboard_cli
from callcrew.metrics import calls_cli, cost_cli, outbox_cli
from callcrew.simulate import cli as simulate_cli
from callcrew.telephony import cli as telephony_cli

app = typer.Typer(
    name="callcrew",
    help="A phone voice-agent service on LiveKit Agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

livekit_cli.register(app)
simulate_cli.register(app)
cost_cli.register(app)
calls_cli.register(app)
outbox_cli.register(app)
telephony_cli.register(app)
dashboard_cli.register(app)


def main() -> None:
    app()
