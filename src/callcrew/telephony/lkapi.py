"""One way to talk to LiveKit's server API, with errors a person can act on.

Every telephony command goes through `livekit_api(settings)`: it builds `api.LiveKitAPI` from our
settings (not from whatever LIVEKIT_* happens to be in the process environment), with a short
timeout and no Cloud region failover, and turns transport failures and refused credentials into
`LiveKitUnreachable` / `LiveKitRefused` that name the server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from livekit import api

from callcrew.settings import Settings


class LiveKitError(Exception):
    """LiveKit could not be used; the message says why and what to check."""


class LiveKitUnreachable(LiveKitError):
    pass


class LiveKitRefused(LiveKitError):
    pass


def server_error_text(exc: api.ServerError) -> str:
    return f"{exc.code}: {exc.message}" if exc.message else exc.code


@asynccontextmanager
async def livekit_api(
    settings: Settings, *, timeout: float = 10.0
) -> AsyncIterator[api.LiveKitAPI]:
    """A LiveKitAPI client for the configured server; call `settings.require_livekit()` first."""
    url = settings.livekit_url or ""
    lk = api.LiveKitAPI(
        url,
        settings.livekit_api_key,
        settings.livekit_secret(),
        timeout=aiohttp.ClientTimeout(total=timeout),
        failover=False,
    )
    try:
        yield lk
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise LiveKitUnreachable(
            f"cannot reach LiveKit at {url} ({reason}); "
            "is the server running and LIVEKIT_URL right?"
        ) from None
    except api.ServerError as exc:
        if exc.status in (401, 403) or exc.code in ("unauthenticated", "permission_denied"):
            raise LiveKitRefused(
                f"LiveKit at {url} refused the request ({server_error_text(exc)}); "
                "check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
            ) from None
        raise
    finally:
        await lk.aclose()
