"""The holder dashboard: an aiohttp app, server-rendered pages, live updates over server-sent events.

Read side: the ledger. A background task reads records after the last seen ``seq`` every
``poll_interval_s``, folds them into the `ReadModel`, and tells each open live stream which of *its*
agreements changed (a stream never hears of an agreement its user may not see). The browser then
re-fetches the part of the page it shows (same URL, header ``X-Qbus-Partial: 1``), through the same
tenancy checks as the page itself. Write side: the bus. Actions publish holder events with the
publisher (`agents.web.dashboard.actions`); nothing is written anywhere else, and the page shows an
action as "sent" until the ledger has it.

The pieces: `state` (the shared `Dashboard` and its reading of the ledger), `hub` (fan-out to live
streams), `rendering` (templates and shared helpers), `pages`, `act` (POST actions), `decide`
(decisions signed electronically, `decisions` for what is signed), `auth` (login, logout, language),
`account` (password change), `live` (the SSE stream and the polling task), `export` (inspection
packages) and `api` (the subscriber API). Who may act: `security` (sessions, CSRF, headers),
`sessions`, `throttle`, `credentials`, `personal_keys`; `inputs` turns bad input into a plain 400.
This module builds the application and registers the routes.

Tenancy (Art. 10): every page, partial, live stream, export and API call resolves the agreement
through `Dashboard.agreement_for` / `visible`, which answer 404 for an agreement the user's party is
not a party to, exactly as for one that does not exist.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from agents.core.visibility import Viewer, shown_event
from agents.record.export import export_package
from agents.web.dashboard.account import change_password, password_form
from agents.web.api.routes import setup_http_api
from agents.web.dashboard.act import act
from agents.web.dashboard.agreementinfo import infos_from_agreements
from agents.web.dashboard.api import setup_api
from agents.web.dashboard.auth import login, login_form, logout, set_language
from agents.web.dashboard.credentials import Credentials
from agents.web.dashboard.decide import decide, sign
from agents.web.dashboard.decisions import DraftBook
from agents.web.dashboard.export import export_view
from agents.web.dashboard.hub import Hub
from agents.web.dashboard.inputs import BadInput, input_guard
from agents.web.dashboard.live import _poll_forever, events
from agents.web.dashboard.metrics_page import setup_metrics
from agents.web.dashboard.pages import agreement_page, batches_page, item_page, overview, queue_page
from agents.web.dashboard.readmodel import ReadModel
from agents.web.dashboard.rendering import render
from agents.web.dashboard.security import SessionCodec, csrf_middleware, security_headers, session_middleware
from agents.web.dashboard.settings import DashboardSettings
from agents.web.dashboard.state import DASHBOARD, Dashboard
from agents.web.dashboard.throttle import ClientAddress, LoginThrottle
from agents.web.dashboard.users import UserStore

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


# --- errors ---------------------------------------------------------------------------------------
async def _csrf_refused(request: web.Request) -> web.Response:
    log.warning("CSRF check failed: %s %s from %s", request.method, request.path, request.app[DASHBOARD].address_of(request))
    if request.path.startswith("/api/"):
        return web.json_response({"error": "csrf"}, status=403)
    return render(request, "error.html", {"title": "bad_request", "text": "csrf_text"}, status=403)


@web.middleware
async def error_pages(request: web.Request, handler) -> web.StreamResponse:
    """One generic page for 404 (and for what the user may not see), a plain reason for bad input;
    JSON for the API."""
    try:
        return await handler(request)
    except BadInput as bad:
        log.info("bad input %s %s: %s", request.method, request.path, bad.key)
        if request.path.startswith("/api/"):
            return web.json_response({"error": bad.text}, status=400)
        return render(request, "error.html", {"title": "bad_request", "text": bad.key}, status=400)
    except web.HTTPNotFound:
        if request.path.startswith("/api/"):
            return web.json_response({"error": "not found"}, status=404)
        # The same page whatever was asked for: nothing tells "not yours" from "not there".
        return render(request, "error.html", {"title": "not_found", "text": "not_found_text", "path": "/"},
                      status=404)


# --- the app --------------------------------------------------------------------------------------
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["short"] = lambda text, n=10: (text or "")[:n]
    return env


def create_app(settings: DashboardSettings, ledger, publisher, users: UserStore, *, agreements=None,
               clock: Callable[[], datetime] | None = None, export: Callable[..., Any] | None | bool = export_package,
               poll: bool = True, gateway=None) -> web.Application:
    """The dashboard app. `publisher` needs only ``publish(event) -> event_id``; `agreements` (an
    `AgreementSet` or AgreementInfos) gives titles and time zones; `export=False` turns the export button off (an installation that must not ship packages)."""
    if agreements is None:
        infos = []
    elif hasattr(agreements, "ids"):
        infos = infos_from_agreements(agreements)
    else:
        infos = list(agreements)
    agreement_set = agreements if hasattr(agreements, "ids") else None
    model = ReadModel(infos, due_soon=timedelta(hours=settings.due_soon_hours),
                      default_timezone=settings.default_timezone,
                      holder_view=lambda body, info: shown_event(body, Viewer.holder(info.holder_id),
                                                                         agreement_set).body)
    dash = Dashboard(settings=settings, ledger=ledger, bus=publisher, users=users, model=model,
                     clock=clock or (lambda: datetime.now(UTC)),
                     export=export or None)
    dash.credentials = Credentials.open(users, settings.user_keys_path)
    dash.keys.write_registry()  # the bus reads the users' public keys from it, even before the first signature
    dash.throttle = LoginThrottle(settings.login_max_failures, settings.login_max_failures_per_address,
                                  settings.login_window_s)
    dash.address_of = ClientAddress(settings.trusted_proxies)
    dash.drafts = DraftBook(timedelta(seconds=settings.signature_draft_ttl_s))
    dash.codec = SessionCodec(settings.session_secret(), settings.session_max_age_s)
    dash.templates = _templates()
    dash.hub = Hub(dash.position_of)
    dash.agreement_set = agreement_set

    app = web.Application(middlewares=[
        security_headers,
        session_middleware(dash.codec, settings.cookie_secure, users.get, dash.sessions.alive),
        error_pages,
        input_guard,
        csrf_middleware(_csrf_refused),
    ], client_max_size=64 * 1024)
    app[DASHBOARD] = dash
    app.router.add_get("/", overview)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", set_language)
    app.router.add_get("/queue", queue_page)
    app.router.add_get("/batches", batches_page)
    app.router.add_get("/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/agreements/{agreement_id}", agreement_page)
    app.router.add_get("/agreements/{agreement_id}/export", export_view)
    app.router.add_get("/account/password", password_form)
    app.router.add_post("/account/password", change_password)
    app.router.add_get("/agreements/{agreement_id}/items/{item_ref}", item_page)
    app.router.add_post("/agreements/{agreement_id}/items/{item_ref}/decide", decide)
    app.router.add_post("/agreements/{agreement_id}/items/{item_ref}/sign", sign)
    app.router.add_post("/agreements/{agreement_id}/items/{item_ref}/{action}", act)
    setup_metrics(app)  # /metrics and /agreements/{id}/metrics (quality figures, issue 15)
    app.router.add_static("/static/", str(HERE / "static"), append_version=True, name="static")
    setup_api(app)
    setup_http_api(app, gateway)  # POST/GET /api/v1/events (agents.web.api.Gateway, or None: no publishing)

    async def lifecycle(app: web.Application):
        await dash.catch_up()
        dash.last_tick = dash.clock()
        task = asyncio.create_task(_poll_forever(dash)) if poll else None
        yield
        dash.hub.close()
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    app.cleanup_ctx.append(lifecycle)

    async def close_streams(app: web.Application) -> None:
        dash.hub.close()  # live streams end before the server waits for open requests

    app.on_shutdown.append(close_streams)

    async def close_credentials(app: web.Application) -> None:
        dash.credentials.close()

    app.on_cleanup.append(close_credentials)
    return app
