"""`callcrew dashboard`: serve the calls, one call and the charts over time in a browser.

Loopback only unless a token is set: call reports hold transcripts and phone numbers, so a
dashboard reachable from the network without a password is refused (exit 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from callcrew.dashboard.app import DashboardConfig, build_app, planned_per_call
from callcrew.settings import SettingsError, load_settings
from callcrew.store import Store, open_store


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or "" (every interface): treat as reachable from outside


def _missing_sqlite(url: str) -> bool:
    """A SQLite file that does not exist yet: reading must not create it."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return False
    return not database.startswith("file:") and not Path(database).expanduser().exists()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"callcrew dashboard: {message}", err=True)
    return typer.Exit(2)


async def _serve(config: DashboardConfig, host: str, port: int) -> None:
    from aiohttp import web

    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    # Tests and scripts read this line to find an ephemeral port (--port 0).
    print(f"dashboard on http://{shown}:{bound}/ (store {config.store_label})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def dashboard(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs DASHBOARD_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="0 picks a free port.")] = 8090,
    database_url: Annotated[
        str | None, typer.Option(help="The store to read (default: DATABASE_URL).")
    ] = None,
) -> None:
    """Browse calls, one call's transcript and latency, and charts over time (read only)."""
    try:
        settings = load_settings(database_url=database_url) if database_url else load_settings()
    except SettingsError as exc:
        raise _fail(exc.render()) from None
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    if not is_loopback(host) and not token:
        raise _fail(
            f"refusing to listen on {host or 'every interface'} without a password: "
            "set DASHBOARD_TOKEN (browsers log in with it as the password), or keep the "
            "default --host 127.0.0.1"
        )
    url = settings.database_url
    label = make_url(url).render_as_string(hide_password=True)
    store: Store | None = None
    if not _missing_sqlite(url):
        try:
            store = open_store(url)
        except Exception as exc:  # StoreError, a driver missing...: one line, no traceback
            raise _fail(f"cannot open the store at {label}: {exc}") from None
    config = DashboardConfig(
        store=store,
        store_label=label,
        token=token,
        planned_per_call=planned_per_call(settings.stack, settings.prices_file),
        stack=settings.stack,
    )
    try:
        asyncio.run(_serve(config, host, port))
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        if store is not None:
            store.close()


def register(app: typer.Typer) -> None:
    app.command("dashboard")(dashboard)
