"""The `callcrew` command: one Typer app; each command lives beside the module it drives."""

from __future__ import annotations

from typing import Any

import typer
from typer import _click  # the click that typer vendors (its Context type)

from callcrew.cli_boundary import fail
from callcrew.errors import UserError
from callcrew.lazycli import Lazy, LazyGroup
from callcrew.metrics.pricing import CatalogError
from callcrew.profile import ProfileError
from callcrew.settings import SettingsError
from callcrew.simulate.scenario import ScenarioError
from callcrew.store.errors import StoreError
from callcrew.telephony.sip_config import MissingSecretsError, SipConfigError

_WORKER = "callcrew.livekit_cli"
_TELEPHONY = "callcrew.telephony.cli"

# Each command's module is imported when the command runs, not to list it (lazycli.py): the
# worker's modules load LiveKit's agent framework, seconds that `--help` and `cost` don't need.
COMMANDS: dict[str, Lazy] = {
    "start": Lazy(
        _WORKER, "Run the worker in production mode (extra options go to LiveKit's CLI)."
    ),
    "dev": Lazy(_WORKER, "Run the worker in development mode (extra options go to LiveKit's CLI)."),
    "console": Lazy(
        _WORKER, "Talk to the crew in this terminal (audio needs a sound device; --text does not)."
    ),
    "download-files": Lazy(
        _WORKER, "Fetch the plugins' model files (run at image build time; needs the internet)."
    ),
    "simulate": Lazy(
        "callcrew.simulate.cli",
        "Rehearse calls offline: the real crew, tools and store; a scripted (replay) model.",
    ),
    "cost": Lazy(
        "callcrew.metrics.cost_cli",
        "Plan a month's cost of calls for a stack: components, total, per call and per hour.",
    ),
    "dial": Lazy(_TELEPHONY, "Place outbound calls: one NUMBER, or a campaign with --csv FILE."),
    "token": Lazy(
        _TELEPHONY,
        "Print a join token and how to use it from the Agents Playground or any LiveKit client.",
    ),
    "dashboard": Lazy(
        "callcrew.dashboard.cli",
        "Browse calls, one call's transcript and latency, and charts over time (read only).",
    ),
    "calls": Lazy(
        "callcrew.metrics.calls_cli",
        "Look back at calls: list, show one, export, and latency/cost statistics.",
    ),
    "outbox": Lazy(
        "callcrew.metrics.outbox_cli",
        "Deliveries waiting for the CRM webhook: list them, re-drive parked ones.",
    ),
    "db": Lazy(
        "callcrew.store.db_cli",
        "The store's schema: each owner's migration revision, and upgrading it.",
    ),
    "sip": Lazy(
        _TELEPHONY,
        "SIP trunks and dispatch rules: make LiveKit match sip.yaml, or show what it has.",
    ),
}

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


class _Boundary(LazyGroup):
    """Turns USER_ERRORS raised by any command into their message on stderr and exit 2."""

    table = COMMANDS

    def invoke(self, ctx: _click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            # fail(): plain echo, never Rich markup (the message quotes user input, "[a-z]")
            raise fail(str(exc)) from None


app = typer.Typer(
    name="callcrew",
    help="A phone voice-agent service on LiveKit Agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=_Boundary,
)


@app.callback()
def _root() -> None:
    # Typer builds a group only from registered commands or a callback; the commands come later.
    pass


def main() -> None:
    app()
