"""Registers the telephony commands: `sip apply|list`, `dial`, `token`."""

from __future__ import annotations

import typer

from callcrew.telephony import dialer, sip_apply, token


def register(app: typer.Typer) -> None:
    app.add_typer(sip_apply.sip_app, name="sip")
    app.command("dial")(dialer.dial)
    app.command("token")(token.token)
