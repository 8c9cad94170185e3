"""Registers the telephony commands: `sip apply|list|export`, `dial`, `token`."""

from __future__ import annotations

import typer

from callcrew.telephony import dialer, sip_apply, sip_state, token


def register(app: typer.Typer) -> None:
    # sip_state adds `sip export` to sip_app when imported.
    assert sip_state.export_command is not None
    app.add_typer(sip_apply.sip_app, name="sip")
    app.command("dial")(dialer.dial)
    app.command("token")(token.token)
