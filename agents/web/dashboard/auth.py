"""Logging in and out, and choosing the language."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from agents.web.dashboard.i18n import DEFAULT_LANGUAGE, normalize_language
from agents.web.dashboard.inputs import local_path, read_form
from agents.web.dashboard.rendering import _redirect, render
from agents.web.dashboard.security import LANG_COOKIE, SESSION, USER, cookie_options, new_session, replace_session
from agents.web.dashboard.state import DASHBOARD

log = logging.getLogger(__name__)


async def login_form(request: web.Request) -> web.Response:
    target = local_path(request.query.get("next"))
    if request.get(USER) is not None:
        return _redirect(target)
    return render(request, "login.html", {"next": target})


async def login(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await read_form(request)
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")
    target = local_path(str(form.get("next") or "/"))
    address = dash.address_of(request)
    wait = dash.throttle.retry_after(username, address)
    if wait:
        log.warning("login throttled for %r from %s (%d s)", username, address, wait)
        response = render(request, "login.html", {"next": target, "error": "login_throttled", "wait": wait,
                                                  "username": username}, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await asyncio.to_thread(dash.users.authenticate, username, password)
    if user is None:
        dash.throttle.failure(username, address)
        log.warning("failed login for %r from %s", username, address)
        return render(request, "login.html", {"next": target, "error": "login_failed", "username": username},
                      status=401)
    dash.throttle.success(username, address)
    sid = await asyncio.to_thread(dash.sessions.start, user.username, dash.settings.session_max_age_s)
    replace_session(request, new_session(user.username, sid))  # new id and CSRF token: no fixation
    request[USER] = user
    cookie_lang = normalize_language(request.cookies.get(LANG_COOKIE))
    if user.language is None and cookie_lang:
        dash.users.set_language(user.username, cookie_lang)
    log.info("%s logged in from %s", user.username, address)
    return _redirect(target)


async def logout(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    # Ended on the server: the cookie, wherever it has been copied to, is worth nothing from now on.
    await asyncio.to_thread(dash.sessions.end, request[SESSION].get("sid"))
    replace_session(request, new_session())
    request[USER] = None
    return _redirect("/login")


async def set_language(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    form = await read_form(request)
    target = local_path(str(form.get("next") or "/"))
    lang = normalize_language(str(form.get("lang") or "")) or DEFAULT_LANGUAGE
    user = request.get(USER)
    if user is not None:
        dash.users.set_language(user.username, lang)
    response = _redirect(target)
    response.set_cookie(LANG_COOKIE, lang, **cookie_options(dash.settings.cookie_secure, 365 * 86400))
    return response
