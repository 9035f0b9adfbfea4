"""Logging in and out, and choosing the language."""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from agents.web.dashboard.i18n import DEFAULT_LANGUAGE, normalize_language
from agents.web.dashboard.rendering import _redirect, _safe_next, render
from agents.web.dashboard.security import (LANG_COOKIE, USER, client_address, cookie_options, new_session,
                                       replace_session)
from agents.web.dashboard.state import DASHBOARD

log = logging.getLogger(__name__)


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
