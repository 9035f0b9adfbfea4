"""The user's own account: changing their password.

The current password is asked for (a wrong one counts toward the login rate limit), the personal
signing key is re-encrypted under the new one, and every session of the user ends, this one
included; this browser gets a fresh session, so only a copied cookie stops working
(`agents.web.dashboard.credentials`).
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from agents.web.dashboard.inputs import read_form
from agents.web.dashboard.rendering import _redirect, current_user, render
from agents.web.dashboard.security import USER, new_session, replace_session
from agents.web.dashboard.state import DASHBOARD
from agents.web.dashboard.users import MIN_PASSWORD_LENGTH, UserError, check_password_strength

log = logging.getLogger(__name__)


def _page(request: web.Request, *, error: str | None = None, status: int = 200, wait: int = 0) -> web.Response:
    return render(request, "account.html", {"error": error, "wait": wait, "min_length": MIN_PASSWORD_LENGTH,
                                            "changed": request.query.get("changed") == "1"}, status=status)


async def password_form(request: web.Request) -> web.Response:
    current_user(request)
    return _page(request)


async def change_password(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    form = await read_form(request)
    current, new, again = (str(form.get(name) or "") for name in ("current", "new", "again"))
    address = dash.address_of(request)
    wait = dash.throttle.retry_after(user.username, address)
    if wait:
        response = _page(request, error="login_throttled", status=429, wait=wait)
        response.headers["Retry-After"] = str(wait)
        return response
    if new != again:
        return _page(request, error="password_mismatch", status=400)
    try:
        check_password_strength(new)
    except UserError:
        return _page(request, error="password_too_weak", status=400)
    if await asyncio.to_thread(dash.users.authenticate, user.username, current) is None:
        dash.throttle.failure(user.username, address)
        log.warning("wrong current password at password change for %s from %s", user.username, address)
        return _page(request, error="password_current_wrong", status=401)
    dash.throttle.success(user.username, address)
    try:
        await asyncio.to_thread(dash.credentials.change_password, user.username, current, new)
    except UserError:
        return _page(request, error="password_same", status=400)
    sid = await asyncio.to_thread(dash.sessions.start, user.username, dash.settings.session_max_age_s)
    replace_session(request, new_session(user.username, sid))
    request[USER] = dash.users.get(user.username)
    log.info("%s changed their password from %s; their other sessions have ended", user.username, address)
    return _redirect("/account/password?changed=1")
