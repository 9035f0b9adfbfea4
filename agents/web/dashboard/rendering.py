"""Rendering pages: the template context every page gets, partials for live updates, and the
small helpers the handlers share (URLs, redirects, the logged-in user, the language)."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from agents.web.dashboard.folding import summarize
from agents.web.dashboard.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    Translator,
    format_local,
    format_offset,
    language_from_header,
    normalize_language,
    zone_label,
)
from agents.web.dashboard.items import _ts
from agents.web.dashboard.security import CSRF_FIELD, LANG_COOKIE, SESSION, USER
from agents.web.dashboard.state import DASHBOARD
from agents.web.dashboard.users import User

PARTIAL_HEADER = "X-Qbus-Partial"


def _item_url(agreement_id: str, item_ref: str) -> str:
    return f"/agreements/{quote(agreement_id, safe='')}/items/{quote(item_ref, safe='')}"


def _agreement_url(agreement_id: str) -> str:
    return f"/agreements/{quote(agreement_id, safe='')}"


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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def render(request: web.Request, name: str, context: dict | None = None, status: int = 200) -> web.Response:
    dash = request.app[DASHBOARD]
    lang = language_of(request)
    t = Translator(lang)
    now = dash.clock()
    user = request.get(USER)

    def local(moment: datetime | None, agreement_id: str | None = None, seconds: bool = False) -> str:
        return format_local(moment, dash.timezone_of(agreement_id) if agreement_id else dash.settings.default_timezone,
                            seconds=seconds)

    def local_offset(moment: datetime | str | None, agreement_id: str | None = None) -> str:
        zone = dash.timezone_of(agreement_id) if agreement_id else dash.settings.default_timezone
        return format_offset(_ts(moment), zone)

    def countdown(due: datetime | None) -> str:
        if due is None:
            return "—"
        delta = due - now
        return t("countdown_in", d=t.span(delta)) if delta.total_seconds() > 0 else t("countdown_overdue", d=t.span(delta))

    values = {
        "t": t, "lang": lang, "other_lang": "en" if lang == "zh" else "zh", "user": user, "now": now,
        "csrf_token": request[SESSION]["csrf"], "csrf_field": CSRF_FIELD, "local": local, "iso": _iso,
        "local_offset": local_offset,
        "countdown": countdown, "item_url": _item_url, "agreement_url": _agreement_url,
        "zone_label": lambda tz: zone_label(tz, now), "path": request.path_qs,
        "position": dash.position_of(dash.visible(user)) if user is not None else 0,
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
