"""The holder dashboard: an aiohttp app, server-rendered pages, live updates over server-sent events.

Read side: the ledger. A background task reads records after the last seen ``seq`` every
``poll_interval_s``, folds them into the `ReadModel`, and tells each open live stream which of *its*
agreements changed (a stream never hears of an agreement its user may not see). The browser then
re-fetches the part of the page it shows (same URL, header ``X-Qbus-Partial: 1``), through the same
tenancy checks as the page itself. Write side: the bus. Actions publish holder events with the
publisher (`agents.dashboard.actions`); nothing is written anywhere else, and the page shows an
action as "sent" until the ledger has it.

Tenancy (Art. 10): every page, partial, live stream, export and API call resolves the agreement
through `Dashboard.agreement_for` / `visible`, which answer 404 for an agreement the user's party is
not a party to, exactly as for one that does not exist.
"""
from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from agents.dashboard import actions
from agents.dashboard.i18n import (DEFAULT_LANGUAGE, LANGUAGES, Translator, format_local, language_from_header,
                                   normalize_language, zone_label)
from agents.dashboard.readmodel import OVERVIEW_CATEGORIES, AgreementInfo, Item, ReadModel, _ts, summarize
from agents.dashboard.security import (CSRF_FIELD, LANG_COOKIE, SESSION, USER, RateLimiter, SessionCodec, client_address,
                                       cookie_options, csrf_middleware, new_session, replace_session,
                                       security_headers, session_middleware)
from agents.dashboard.settings import DashboardSettings
from agents.dashboard.users import User, UserStore
from streams.export import export_package

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
PARTIAL_HEADER = "X-Qbus-Partial"
POLL_BATCH = 5000
PENDING_TTL = timedelta(hours=1)


# --- live fan-out ---------------------------------------------------------------------------------
class Subscription:
    def __init__(self, allow: Callable[[str], bool]):
        self.allow = allow
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=64)

    def offer(self, message: Any) -> None:
        if self.queue.full():  # a slow reader only needs the latest news: drop the oldest
            try:
                self.queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
        self.queue.put_nowait(message)


class Hub:
    """Fans 'these agreements changed' out to live streams, each filtered by what its user may see.

    A message carries the latest seq *of the stream's own agreements* (`seq_of`), never the global
    one, so the numbers a holder sees say nothing about how busy other holders' agreements are."""

    def __init__(self, seq_of: Callable[[Iterable[str]], int] = lambda agreements: 0):
        self._subs: set[Subscription] = set()
        self.seq_of = seq_of

    def subscribe(self, allow: Callable[[str], bool]) -> Subscription:
        sub = Subscription(allow)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def notify(self, agreements: Iterable[str]) -> None:
        agreements = set(agreements)
        for sub in list(self._subs):
            mine = sorted(a for a in agreements if sub.allow(a))
            if mine:
                sub.offer({"seq": self.seq_of(mine), "agreements": mine})

    def close(self) -> None:
        for sub in list(self._subs):
            sub.offer(None)

    def __len__(self) -> int:
        return len(self._subs)


# --- the shared state -------------------------------------------------------------------------------
@dataclass
class Dashboard:
    settings: DashboardSettings
    ledger: Any
    bus: Any                           # has publish(event) -> event_id (a Publisher or a BusWriter)
    users: UserStore
    model: ReadModel
    clock: Callable[[], datetime]
    export: Callable[..., Any] | None
    hub: Hub = field(default_factory=Hub)
    pending: dict[str, actions.SentAction] = field(default_factory=dict)
    limiter: RateLimiter | None = None
    codec: SessionCodec | None = None
    templates: jinja2.Environment | None = None
    last_tick: datetime | None = None
    agreement_set: Any = None          # the AgreementSet, when agreement files were loaded

    # -- tenancy --
    def visible(self, user: User) -> list[str]:
        return self.model.visible_agreements(user.party_id, user.side)

    def can_see(self, user: User, agreement_id: str) -> bool:
        return self.model.can_see(user.party_id, user.side, agreement_id)

    def agreement_for(self, user: User, agreement_id: str) -> AgreementInfo:
        """The agreement if the user may see it; 404 otherwise, the same as for one that does not exist."""
        if not self.can_see(user, agreement_id):
            raise NotFound()
        return self.model.agreements[agreement_id]

    def side_in(self, user: User, agreement_id: str) -> str | None:
        return self.model.role_in(user.party_id, agreement_id)

    def seq_of(self, agreement_ids: Iterable[str]) -> int:
        """The last ledger seq of these agreements (what a tenant may know of the ledger's position)."""
        return max((self.model.agreements[a].last_seq for a in agreement_ids if a in self.model.agreements), default=0)

    def timezone_of(self, agreement_id: str) -> str:
        info = self.model.agreements.get(agreement_id)
        return info.timezone if info else self.settings.default_timezone

    # -- reading the ledger --
    async def catch_up(self) -> set[str]:
        """Fold every record after the last seen seq; returns the agreements that changed."""
        changed: set[str] = set()
        while True:
            since = self.model.last_seq
            records = await asyncio.to_thread(lambda: list(islice(self.ledger.iter(since=since), POLL_BATCH)))
            changed |= self.model.apply_all(records)
            if len(records) < POLL_BATCH:
                return changed

    async def poll_once(self) -> set[str]:
        changed = await self.catch_up()
        now = self.clock()
        if self.last_tick is not None:
            changed |= self.model.crossed(self.last_tick, now)
        self.last_tick = now
        for event_id, sent in list(self.pending.items()):
            if self.model.has_event(event_id) or event_id in self.model.dead_letters or now - sent.sent_at > PENDING_TTL:
                del self.pending[event_id]
                changed.add(sent.agreement_id)
        if changed:
            self.hub.notify(changed)
        return changed

    def pending_for(self, item: Item) -> list[actions.SentAction]:
        return [p for p in self.pending.values() if (p.agreement_id, p.item_ref) == item.key]


class NotFound(web.HTTPNotFound):
    """Raised for anything a user may not see; rendered as the one generic 'not found' page."""


DASHBOARD = web.AppKey("dashboard", Dashboard)


# --- helpers --------------------------------------------------------------------------------------
def _item_url(agreement_id: str, item_ref: str) -> str:
    return f"/agreements/{quote(agreement_id, safe='')}/items/{quote(item_ref, safe='')}"


def _agreement_url(agreement_id: str) -> str:
    return f"/agreements/{quote(agreement_id, safe='')}"


def _safe_next(target: str | None) -> str:
    """Only local paths: never redirect to another site after login or a language switch."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def language_of(request: web.Request) -> str:
    user: User | None = request.get(USER)
    if user is not None and user.language in LANGUAGES:
        return user.language
    return (normalize_language(request.cookies.get(LANG_COOKIE))
            or language_from_header(request.headers.get("Accept-Language")) or DEFAULT_LANGUAGE)


def _show(value: Any) -> str:
    """A payload value as text: lists joined, records as compact JSON, booleans as yes/no."""
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, list):
        return "; ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def render(request: web.Request, name: str, context: dict | None = None, status: int = 200) -> web.Response:
    dash = request.app[DASHBOARD]
    lang = language_of(request)
    t = Translator(lang)
    now = dash.clock()
    user = request.get(USER)

    def local(moment: datetime | None, agreement_id: str | None = None, seconds: bool = False) -> str:
        return format_local(moment, dash.timezone_of(agreement_id) if agreement_id else dash.settings.default_timezone,
                            seconds=seconds)

    def countdown(due: datetime | None) -> str:
        if due is None:
            return "—"
        delta = due - now
        return t("countdown_in", d=t.span(delta)) if delta.total_seconds() > 0 else t("countdown_overdue", d=t.span(delta))

    values = {
        "t": t, "lang": lang, "other_lang": "en" if lang == "zh" else "zh", "user": user, "now": now,
        "csrf_token": request[SESSION]["csrf"], "csrf_field": CSRF_FIELD, "local": local, "iso": _iso,
        "countdown": countdown, "item_url": _item_url, "agreement_url": _agreement_url,
        "zone_label": lambda tz: zone_label(tz, now), "path": request.path_qs,
        "seq": dash.seq_of(dash.visible(user)) if user is not None else 0,
        "client_strings": json.dumps(t.client_strings(), ensure_ascii=False),
        "stream_url": None, "nav": None,
        "ts": _ts, "summarize": summarize, "show": _show,
        "static_url": lambda name: str(request.app.router["static"].url_for(filename=name)),
    }
    values.update(context or {})
    template = dash.templates.get_template(name)
    if request.headers.get(PARTIAL_HEADER) == "1" and "live" in template.blocks:
        html = "".join(template.blocks["live"](template.new_context(values)))
    else:
        html = template.render(values)
    response = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    response.headers["Vary"] = PARTIAL_HEADER
    response.headers["Content-Language"] = "zh-CN" if lang == "zh" else "en"
    return response


def current_user(request: web.Request, *, page: bool = True) -> User:
    """The logged-in user; otherwise a redirect to the login page (401 for streams and partials)."""
    user = request.get(USER)
    if user is not None:
        return user
    if page and request.method == "GET" and request.headers.get(PARTIAL_HEADER) != "1":
        raise web.HTTPSeeOther(location=f"/login?next={quote(request.path_qs, safe='')}")
    raise web.HTTPUnauthorized(text="log in first")


# --- pages ----------------------------------------------------------------------------------------
async def overview(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    now = dash.clock()
    sections = []
    for agreement_id in dash.visible(user):
        info = dash.model.agreements[agreement_id]
        side = dash.side_in(user, agreement_id)
        sections.append({
            "info": info, "side": side,
            "counts": dash.model.counts(agreement_id, now),
            "attention": dash.model.attention(agreement_id, now, limit=12),
            "recent": dash.model.recent_entries(agreement_id, 8),
            "directives": dash.model.active_directives(agreement_id),
            "waiting": _queue_size(dash, [agreement_id], side),
        })
    return render(request, "overview.html", {"sections": sections, "nav": "overview", "stream_url": "/events"})


def _queue_size(dash: Dashboard, agreement_ids: list[str], side: str | None) -> int:
    if side is None:
        return 0
    size = len(dash.model.acknowledgements(agreement_ids, side))
    if side == "HOLDER":
        size += len(dash.model.approvals(agreement_ids)) + len(dash.model.coline_feedback(agreement_ids))
    return size


async def agreement_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    category = request.query.get("category") or None
    if category is not None and category not in OVERVIEW_CATEGORIES and not dash.model.items_of(info.agreement_id, category):
        category = None
    now = dash.clock()
    zone = ZoneInfo(info.timezone)
    today = now.astimezone(zone).date()
    first = info.first_recorded_at.astimezone(zone).date() if info.first_recorded_at else today
    return render(request, "agreement.html", {
        "info": info, "category": category, "categories": OVERVIEW_CATEGORIES,
        "counts": {c.category: c for c in dash.model.counts(info.agreement_id, now)},
        "items": dash.model.sorted_items(info.agreement_id, now, category),
        "export_from": first.isoformat(), "export_to": today.isoformat(), "export_available": dash.export is not None,
        "nav": "overview", "stream_url": f"/events?agreement={quote(info.agreement_id, safe='')}",
    })


async def item_page(request: web.Request, *, error: str | None = None, status: int = 200,
                    form: dict | None = None) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    item = dash.model.item(info.agreement_id, request.match_info["item_ref"])
    if item is None or not item.category:
        raise NotFound()
    side = dash.side_in(user, info.agreement_id)
    pending = dash.pending_for(item)
    refused = [(p, dash.model.dead_letters[p.event_id]) for p in list(dash.pending.values())
               if (p.agreement_id, p.item_ref) == item.key and p.event_id in dash.model.dead_letters]
    can = available_actions(item, user, side) if not pending else []
    entries = [(e, actions.redact_for_viewer(e.event, user.party_id, side, dash.agreement_set)) for e in item.entries]
    obligations = sorted(item.obligations.values(), key=lambda o: (not o.is_open, o.due_at or dash.clock()))
    return render(request, "item.html", {
        "info": info, "item": item, "entries": entries, "obligations": obligations, "side": side,
        "can": can, "pending": pending, "refused": refused, "error": error, "form": form or {},
        "sent": request.query.get("sent"), "nav": "overview",
        "stream_url": f"/events?agreement={quote(info.agreement_id, safe='')}",
    }, status=status)


def available_actions(item: Item, user: User, side: str | None) -> list[str]:
    if not user.can_act or side is None or side != user.side:
        return []
    can = []
    if side == "HOLDER" and item.awaiting_decision():
        can += ["approve", "reject"]
    if side == "HOLDER" and item.awaiting_feedback():
        can.append("feedback")
    if item.awaiting_acknowledgement(side):
        can.append("acknowledge")
    return can


async def queue_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    visible = dash.visible(user)
    holder_side = [a for a in visible if dash.side_in(user, a) == "HOLDER"]
    by_side: dict[str, list[str]] = {}
    for agreement_id in visible:
        by_side.setdefault(dash.side_in(user, agreement_id), []).append(agreement_id)
    acknowledgements = [i for s, ids in by_side.items() if s for i in dash.model.acknowledgements(ids, s)]
    pending_items = {(p.agreement_id, p.item_ref) for p in dash.pending.values()}
    return render(request, "queue.html", {
        "approvals": dash.model.approvals(holder_side),
        "acknowledgements": acknowledgements,
        "coline": dash.model.coline_feedback(holder_side),
        "batches": [(a, r) for a in visible for r in dash.model.batch_readiness(a) if r.status != "market_released"],
        "pending_items": pending_items, "holder": bool(holder_side),
        "can_act": user.can_act, "nav": "queue", "stream_url": "/events",
    })


async def batches_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    sections = [{"info": dash.model.agreements[a], "batches": dash.model.batch_readiness(a)} for a in dash.visible(user)]
    return render(request, "batches.html", {"sections": sections, "nav": "batches", "stream_url": "/events"})


# --- actions --------------------------------------------------------------------------------------
async def act(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    item = dash.model.item(info.agreement_id, request.match_info["item_ref"])
    if item is None or not item.category:
        raise NotFound()
    what = request.match_info["action"]
    side = dash.side_in(user, info.agreement_id)
    if not user.can_act or side is None or side != user.side:
        return render(request, "error.html", {"title": "forbidden", "text": "forbidden_text"}, status=403)
    form = await request.post()
    if dash.pending_for(item):
        return await item_page(request, error="not_awaiting", status=409)
    now = dash.clock()
    try:
        if what == "approve":
            event = actions.approve_change(item, user, form.get("conditions"), now)
        elif what == "reject":
            event = actions.reject_change(item, user, str(form.get("reason") or ""), now)
        elif what == "acknowledge":
            event = actions.acknowledge(item, user, side, form.get("note"), now)
        elif what == "feedback":
            accepts = {"yes": True, "no": False}.get(str(form.get("accepts") or ""))
            event = actions.coline_feedback(item, user, str(form.get("feedback") or ""), accepts, now)
        else:
            raise NotFound()
    except actions.ActionRefused as refused:
        return await item_page(request, error=refused.key, status=refused.status, form=dict(form))
    try:
        event_id = await asyncio.to_thread(dash.bus.publish, event)
    except Exception as exc:  # noqa: BLE001 - every failure is shown to the user, and logged
        from streams.validation import EventInvalid

        if isinstance(exc, EventInvalid):
            log.error("dashboard event %s for %s/%s refused by validation: %s", event["event_type"],
                      info.agreement_id, item.item_ref, exc)
            return await item_page(request, error="invalid_event", status=422, form=dict(form))
        log.exception("publishing %s for %s/%s failed", event["event_type"], info.agreement_id, item.item_ref)
        return await item_page(request, error="publish_failed", status=502, form=dict(form))
    dash.pending[event_id] = actions.SentAction(event_id, event["event_type"], info.agreement_id, item.item_ref,
                                                user.signature_name, now)
    log.info("%s published %s %s for %s/%s", user.username, event["event_type"], event_id, info.agreement_id,
             item.item_ref)
    dash.hub.notify({info.agreement_id})
    return _redirect(f"{_item_url(info.agreement_id, item.item_ref)}?sent={quote(event_id)}")


# --- export ---------------------------------------------------------------------------------------
async def export_view(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    if dash.export is None:
        # Export turned off for this installation (create_app(export=False)).
        return render(request, "error.html", {"title": "bad_request", "text": "export_unavailable"}, status=501)
    zone = ZoneInfo(info.timezone)
    today = dash.clock().astimezone(zone).date()
    try:
        start = date.fromisoformat(request.query.get("from") or
                                   (info.first_recorded_at or dash.clock()).astimezone(zone).date().isoformat())
        end = date.fromisoformat(request.query.get("to") or today.isoformat())
    except ValueError:
        return render(request, "error.html", {"title": "bad_request", "text": "bad_request"}, status=400)
    if end < start:
        start, end = end, start
    workdir = Path(tempfile.mkdtemp(prefix="qbus-export-"))

    def build() -> bytes:
        try:
            out = workdir / "package"
            dash.export(dash.ledger, info.agreement_id, start, end, out, tz=info.timezone)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(out.rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(out).as_posix())
            return buffer.getvalue()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    data = await asyncio.to_thread(build)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in info.agreement_id)
    log.info("%s exported the inspection package of %s (%s to %s)", user.username, info.agreement_id, start, end)
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="qbus-{safe}-{start}-{end}.zip"'})


# --- live stream ----------------------------------------------------------------------------------
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: 'change' with the seq and the changed agreements this user may see."""
    user = current_user(request, page=False)
    dash = request.app[DASHBOARD]
    only = request.query.get("agreement")
    if only is not None:
        dash.agreement_for(user, only)
    username = user.username

    def allow(agreement_id: str) -> bool:
        return (only is None or agreement_id == only) and dash.can_see(user, agreement_id)

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sub = dash.hub.subscribe(allow)
    try:
        hello = {"seq": dash.seq_of([only] if only else dash.visible(user))}
        await response.write(f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode())
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=dash.settings.heartbeat_s)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is None:
                break
            current = dash.users.get(username)
            if current is None or current.disabled:
                break  # the account was disabled: the stream ends with the session
            await response.write(f"event: change\ndata: {json.dumps(message)}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        dash.hub.unsubscribe(sub)
    return response


# --- login, logout, language ----------------------------------------------------------------------
async def login_form(request: web.Request) -> web.Response:
    if request.get(USER) is not None:
        return _redirect(_safe_next(request.query.get("next")))
    return render(request, "login.html", {"next": _safe_next(request.query.get("next"))})


async def login(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await request.post()
    username = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    target = _safe_next(str(form.get("next") or "/"))
    keys = (f"user:{username.lower()}", f"addr:{client_address(request)}")
    wait = dash.limiter.retry_after(*keys)
    if wait:
        log.warning("login throttled for %r from %s (%d s)", username, client_address(request), wait)
        response = render(request, "login.html", {"next": target, "error": "login_throttled", "wait": wait,
                                                  "username": username}, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await asyncio.to_thread(dash.users.authenticate, username, password)
    if user is None:
        dash.limiter.failure(*keys)
        log.warning("failed login for %r from %s", username, client_address(request))
        return render(request, "login.html", {"next": target, "error": "login_failed", "username": username},
                      status=401)
    dash.limiter.success(keys[0])
    replace_session(request, new_session(user.username))  # new id and CSRF token: no fixation
    request[USER] = user
    cookie_lang = normalize_language(request.cookies.get(LANG_COOKIE))
    if user.language is None and cookie_lang:
        dash.users.set_language(user.username, cookie_lang)
    log.info("%s logged in from %s", user.username, client_address(request))
    return _redirect(target)


async def logout(request: web.Request) -> web.Response:
    replace_session(request, new_session())
    request[USER] = None
    return _redirect("/login")


async def set_language(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await request.post()
    lang = normalize_language(str(form.get("lang") or "")) or DEFAULT_LANGUAGE
    user = request.get(USER)
    if user is not None:
        dash.users.set_language(user.username, lang)
    response = _redirect(_safe_next(str(form.get("next") or "/")))
    response.set_cookie(LANG_COOKIE, lang, **cookie_options(dash.settings.cookie_secure, 365 * 86400))
    return response


async def healthz(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    return web.json_response({"ok": True})


# --- errors ---------------------------------------------------------------------------------------
async def _csrf_refused(request: web.Request) -> web.Response:
    log.warning("CSRF check failed: %s %s from %s", request.method, request.path, client_address(request))
    if request.path.startswith("/api/"):
        return web.json_response({"error": "csrf"}, status=403)
    return render(request, "error.html", {"title": "bad_request", "text": "csrf_text"}, status=403)


@web.middleware
async def error_pages(request: web.Request, handler) -> web.StreamResponse:
    """One generic page for 404 (and for what the user may not see); JSON for the API."""
    try:
        return await handler(request)
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
               poll: bool = True) -> web.Application:
    """The dashboard app. `publisher` needs only ``publish(event) -> event_id``; `agreements` (an
    `AgreementSet` or AgreementInfos) gives titles and time zones; `export=False` turns the export button off (an installation that must not ship packages)."""
    from agents.dashboard.api import setup_api
    from agents.dashboard.readmodel import infos_from_agreements

    if agreements is None:
        infos = []
    elif hasattr(agreements, "ids"):
        infos = infos_from_agreements(agreements)
    else:
        infos = list(agreements)
    agreement_set = agreements if hasattr(agreements, "ids") else None
    model = ReadModel(infos, due_soon=timedelta(hours=settings.due_soon_hours),
                      default_timezone=settings.default_timezone,
                      holder_view=lambda body, info: actions.redact_for_viewer(body, info.holder_id, "HOLDER",
                                                                               agreement_set))
    dash = Dashboard(settings=settings, ledger=ledger, bus=publisher, users=users, model=model,
                     clock=clock or (lambda: datetime.now(timezone.utc)),
                     export=export or None)
    dash.limiter = RateLimiter(settings.login_max_failures, settings.login_window_s)
    dash.codec = SessionCodec(settings.session_secret(), settings.session_max_age_s)
    dash.templates = _templates()
    dash.hub = Hub(dash.seq_of)
    dash.agreement_set = agreement_set

    app = web.Application(middlewares=[
        security_headers,
        session_middleware(dash.codec, settings.cookie_secure, users.get),
        error_pages,
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
    app.router.add_get("/agreements/{agreement_id}/items/{item_ref}", item_page)
    app.router.add_post("/agreements/{agreement_id}/items/{item_ref}/{action}", act)
    app.router.add_static("/static/", str(HERE / "static"), append_version=True, name="static")
    setup_api(app)

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
    return app


async def _poll_forever(dash: Dashboard) -> None:
    while True:
        try:
            await dash.poll_once()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the ledger may be briefly locked or away; keep serving
            log.exception("reading the ledger failed; retrying")
        await asyncio.sleep(dash.settings.poll_interval_s)
