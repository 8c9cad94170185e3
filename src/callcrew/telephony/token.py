"""`callcrew token`: a join token for a browser (Agents Playground, LiveKit Meet, your own app).

The token carries room-join grants and a RoomConfiguration that dispatches our agent
(`AGENT_NAME`) when the token's holder creates the room by joining it, so no separate dispatch
call is needed. The Agents Playground takes the server URL and the token in its "Manual" tab (it
reads no URL or token from its address); LiveKit Meet's /custom page takes both as query
parameters, so we print a link for it as well.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import typer
from livekit import api

from callcrew.cli_boundary import fail
from callcrew.settings import Settings, SettingsError, load_settings

MEET_URL = "https://meet.livekit.io/custom"
MAX_TTL = timedelta(hours=24)
MIN_TTL = timedelta(minutes=1)

_TTL_PART = re.compile(r"([0-9]+)\s*([dhms])")
_ROOM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_ttl(text: str) -> timedelta:
    """'1h', '30m', '90s', '1h30m', '2d' (or plain seconds) -> timedelta; ValueError otherwise."""
    t = text.strip().lower()
    if t.isascii() and t.isdigit():
        seconds = int(t)
    else:
        parts = _TTL_PART.findall(t)
        if not parts or _TTL_PART.sub("", t).strip():
            raise ValueError(f"{text!r} is not a duration like 1h, 30m, 90s or 1h30m")
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    # Compare as seconds first: a huge count overflows timedelta (OverflowError).
    if not MIN_TTL.total_seconds() <= seconds <= MAX_TTL.total_seconds():
        raise ValueError(f"{text!r}: a token lives between 1 minute and 24 hours")
    ttl = timedelta(seconds=seconds)
    if ttl < MIN_TTL or ttl > MAX_TTL:
        raise ValueError(f"{text!r}: a token lives between 1 minute and 24 hours")
    return ttl


def client_url(livekit_url: str) -> str:
    """Browsers connect with ws(s)://; settings may hold the http(s):// form."""
    if livekit_url.startswith("https://"):
        return "wss://" + livekit_url.removeprefix("https://")
    if livekit_url.startswith("http://"):
        return "ws://" + livekit_url.removeprefix("http://")
    return livekit_url


@dataclass
class JoinToken:
    url: str
    room: str
    identity: str
    agent_name: str
    token: str
    expires_at: datetime

    @property
    def meet_link(self) -> str:
        return f"{MEET_URL}?{urlencode({'liveKitUrl': self.url, 'token': self.token})}"

    def as_dict(self, playground_url: str) -> dict[str, str]:
        return {
            "url": self.url,
            "room": self.room,
            "identity": self.identity,
            "agent_name": self.agent_name,
            "token": self.token,
            "expires_at": self.expires_at.isoformat(timespec="seconds"),
            "playground_url": playground_url,
            "meet_link": self.meet_link,
        }


def make_token(
    settings: Settings,
    *,
    room: str,
    identity: str | None = None,
    name: str | None = None,
    ttl: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> JoinToken:
    settings.require_livekit()
    if not _ROOM.match(room):
        raise ValueError(
            f"room {room!r}: 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    ident = identity or f"web-{uuid.uuid4().hex[:8]}"
    token = (
        api.AccessToken(settings.livekit_api_key, settings.livekit_secret())
        .with_identity(ident)
        .with_name(name or ident)
        .with_ttl(ttl)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=room,
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
            )
        )
        .with_room_config(
            api.RoomConfiguration(agents=[api.RoomAgentDispatch(agent_name=settings.agent_name)])
        )
    )
    issued = now or datetime.now(UTC)
    return JoinToken(
        url=client_url(settings.livekit_url or ""),
        room=room,
        identity=ident,
        agent_name=settings.agent_name,
        token=token.to_jwt(),
        expires_at=(issued + ttl).replace(microsecond=0),
    )


def token(
    room: str = typer.Option(..., "--room", help="Room to join (created on join if new)."),
    identity: str | None = typer.Option(
        None, "--identity", help="Participant identity (default: web-<random>)."
    ),
    name: str | None = typer.Option(None, "--name", help="Display name."),
    ttl: str = typer.Option("1h", "--ttl", help="Lifetime: 30m, 1h, 1h30m ... (max 24h)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print a join token and how to use it from the Agents Playground or any LiveKit client."""
    try:
        lifetime = parse_ttl(ttl)
    except ValueError as exc:
        raise fail(f"--ttl {exc}") from None
    try:
        settings = load_settings()
        jt = make_token(settings, room=room, identity=identity, name=name, ttl=lifetime)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except ValueError as exc:
        raise fail(str(exc)) from None
    playground = settings.playground_url.rstrip("/")
    if as_json:
        typer.echo(json.dumps(jt.as_dict(playground), indent=2))
        return
    typer.echo(f"LiveKit URL: {jt.url}")
    typer.echo(f"Room:        {jt.room}")
    typer.echo(f"Identity:    {jt.identity}")
    typer.echo(f"Expires:     {jt.expires_at:%Y-%m-%d %H:%M:%S} UTC")
    typer.echo(f"Agent:       {jt.agent_name} (dispatched when this token creates the room)")
    typer.echo("Token:")
    typer.echo(jt.token)
    typer.echo("")
    typer.echo(
        f'Agents Playground: open {playground}/, choose "Manual", paste the LiveKit URL and '
        "the token above, and connect."
    )
    typer.echo(f"LiveKit Meet (URL and token in the link): {jt.meet_link}")
    typer.echo(
        "The agent only joins a room this token creates: pick a new room name if "
        f"{jt.room!r} is already open."
    )
