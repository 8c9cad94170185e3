"""The `callcrew` command: one Typer app; each command lives beside the module it drives."""

from __future__ import annotations

from typing import Any

import typer
from typer import _click  # the click that typer vendors (its Context type)
from typer.core import TyperGroup

from callcrew import livekit_cli
from callcrew.dashboard import cli as dashboard_cli
from callcrew.errors import UserError
from callcrew.metrics import calls_cli, cost_cli, outbox_cli
from callcrew.metrics.pricing import CatalogError
from callcrew.profile import ProfileError
from callcrew.redact import mask_urls
from callcrew.settings import SettingsError
from callcrew.simulate import cli as simulate_cli
from callcrew.simulate.scenario import ScenarioError
from callcrew.store.errors import StoreError
from callcrew.telephony import cli as telephony_cli
from callcrew.telephony.sip_config import MissingSecretsError, SipConfigError

# Our own errors about the user's input: each already names the input and what is wrong.
# Nothing broader is caught here: any other exception is a bug and keeps its traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    UserError,
    SettingsError,
    ScenarioError,
    ProfileError,
    CatalogError,
    SipConfigError,
    MissingSecretsError,
    StoreError,
)


class _Boundary(TyperGroup):
    """Turns USER_ERRORS raised by any command into their message on stderr and exit 2."""

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            # Plain echo, never Rich markup: the message quotes user input ("[a-z]").
            typer.echo(mask_urls(str(exc)), err=True)
            raise typer.Exit(2) from None


app = typer.Typer(
    name="callcrew",
    help="A phone voice-agent service on LiveKit Agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Boundary,
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
