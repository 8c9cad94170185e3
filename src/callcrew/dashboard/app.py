"""The dashboard's web app (aiohttp, which LiveKit already brings, and Jinja2 templates).

Pages are rendered on the server from the store, read only; charts are inline SVG, the one
stylesheet ships in the package, and the Content-Security-Policy allows nothing from elsewhere
(no scripts at all). With a token, every request must carry it: HTTP basic auth (any user name,
the token as password) for browsers, or `Authorization: Bearer TOKEN` for scripts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from jinja2 import Environment, PackageLoader, select_autoescape

from callcrew.dashboard import query, views
from callcrew.store import Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {"style.css": "text/css"}


@dataclass(frozen=True)
class DashboardConfig:
    store: Store | None  # None: no database yet (pages say so)
    store_label: str  # the database URL, password hidden
    token: str | None = None
    planned_per_call: float | None = None
    stack: str = "economy"


def _authorized(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.strip().encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, _, password = decoded.partition(":")
        return hmac.compare_digest(password.encode(), token.encode())
    return False


def _auth(token: str | None) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is not None and not _authorized(request.headers.get("Authorization", ""), token):
            return web.Response(
                status=401,
                text="callcrew dashboard: log in with the dashboard token as the password\n",
                headers={"WWW-Authenticate": 'Basic realm="callcrew", charset="UTF-8"'},
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # 404s get the same headers
            exc.headers.update(SECURITY_HEADERS)
            raise
        response.headers.update(SECURITY_HEADERS)
        return response

    return middleware


def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("callcrew.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Pages:
    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.env = _templates()

    def _render(self, name: str, status: int = 200, **context: Any) -> web.Response:
        html = self.env.get_template(name).render(
            store_label=self.config.store_label, stack=self.config.stack, **context
        )
        return web.Response(text=html, content_type="text/html", status=status)

    async def _reports(self, filters: query.Filters) -> list[dict[str, Any]]:
        store = self.config.store
        if store is None:
            return []
        return await asyncio.to_thread(query.load_reports, store, filters)

    async def calls(self, request: web.Request) -> web.Response:
        filters = query.parse_filters(request.query)
        reports = await self._reports(filters)
        everything = reports if not filters.active else await self._reports(query.Filters())
        return self._render(
            "calls.html",
            page="calls",
            filters=filters,
            rows=[views.call_row(r) for r in reports],
            choices=query.choices(everything),
            capped=len(reports) >= query.MAX_REPORTS,
            no_store=self.config.store is None,
        )

    async def _report(self, request: web.Request) -> dict[str, Any]:
        call_id = request.match_info["call_id"]
        store = self.config.store
        report = await asyncio.to_thread(store.reports.get, call_id) if store else None
        if report is None:
            raise web.HTTPNotFound(text=f"no call {call_id!r} in the store\n")
        return report

    async def call(self, request: web.Request) -> web.Response:
        report = await self._report(request)
        return self._render("call.html", page="call", call=views.call_page(report))

    async def audio(self, request: web.Request) -> web.StreamResponse:
        path = views.recording(await self._report(request))
        if path is None:
            raise web.HTTPNotFound(text="no recording for this call\n")
        return web.FileResponse(path)

    async def overview(self, request: web.Request) -> web.Response:
        filters = query.parse_filters(request.query)
        reports = await self._reports(filters)
        return self._render(
            "overview.html",
            page="overview",
            filters=filters,
            view=views.overview(
                reports, self.config.planned_per_call, filters.since, filters.until
            ),
            no_store=self.config.store is None,
        )

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        body = (resources.files("callcrew.dashboard") / "static" / name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name])


def build_app(config: DashboardConfig) -> web.Application:
    pages = Pages(config)
    app = web.Application(middlewares=[_auth(config.token)])
    app.add_routes(
        [
            web.get("/", pages.calls),
            web.get("/calls/{call_id}", pages.call),
            web.get("/calls/{call_id}/audio", pages.audio),
            web.get("/overview", pages.overview),
            web.get("/static/{name}", pages.static),
        ]
    )
    return app


def planned_per_call(stack: str, prices_file: str | None) -> float | None:
    """The planner's cost per call for `stack` at the seed's assumptions (None if unpriced)."""
    from callcrew.metrics.planner import PlanInputs, plan
    from callcrew.metrics.pricing import CatalogError, load_catalog

    try:
        result = plan(PlanInputs(), load_catalog(prices_file), stack)
    except CatalogError:
        return None
    per_call = result.per_call
    return None if per_call is None else float(per_call.quantize(Decimal("0.000001")))
