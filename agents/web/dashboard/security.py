"""Sessions, CSRF and security headers for the dashboard (aiohttp middlewares).

- Sessions: the cookie holds ``{sid, csrf, u?}`` signed with itsdangerous (HMAC-SHA256 over a
  server secret, timestamped: older than `session_max_age_s` is refused). Nothing secret is in it.
  A logged-in session is also a row of the server-side `SessionStore`: the middleware believes the
  cookie only while that row is alive, so logging out, changing the password or disabling the user
  ends it at once, and a copied cookie stops working. The user is re-read at every request.
  The cookie is HttpOnly, SameSite=Lax (links from escalation e-mails still open the page; no
  cross-site POST carries it), Path=/, and Secure when the dashboard is served over HTTPS.
  A login issues a new session id and CSRF token (no session fixation).
- CSRF: every state-changing request (POST, PUT, PATCH, DELETE) must carry the session's token in
  the form field ``csrf_token`` or the header ``X-CSRF-Token``, and, when the browser sends an
  ``Origin``, come from this site. Anonymous visitors get a session too, so the login form is
  protected as well.
- Headers: a strict Content-Security-Policy (no inline script), no framing, no sniffing, no
  referrer to other sites, and no caching of pages.

Login rate limiting and the client's address are in `agents.web.dashboard.throttle`.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from itsdangerous import BadData, URLSafeTimedSerializer

SESSION_COOKIE = "qbus_session"
LANG_COOKIE = "qbus_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _request_key(name: str, kind: type):
    factory = getattr(web, "RequestKey", None)  # aiohttp >= 3.12; plain strings before
    return factory(name, kind) if factory else name


SESSION = _request_key("qbus_session", dict)            # the session dict (always present)
USER = _request_key("qbus_user", object)                # the logged-in User, or None
SESSION_CHANGED = _request_key("qbus_session_changed", bool)

CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
                           "frame-ancestors 'none'; form-action 'self'")


class SessionCodec:
    def __init__(self, secret: str, max_age_s: int):
        if len(secret) < 32:
            raise ValueError("the session secret must be at least 32 characters")
        self._serializer = URLSafeTimedSerializer(secret, salt="qbus-dashboard-session",
                                                  signer_kwargs={"digest_method": hashlib.sha256})
        self.max_age_s = max_age_s

    def dumps(self, session: dict) -> str:
        return self._serializer.dumps(session)

    def loads(self, text: str | None) -> dict | None:
        if not text:
            return None
        try:
            data = self._serializer.loads(text, max_age=self.max_age_s)
        except BadData:  # forged, expired or garbled
            return None
        return data if isinstance(data, dict) and data.get("sid") and data.get("csrf") else None


def new_session(username: str | None = None, sid: str | None = None) -> dict:
    """A session: anonymous, or `username`'s with the id their `SessionStore` row was given."""
    session = {"sid": sid or secrets.token_urlsafe(16), "csrf": secrets.token_urlsafe(32)}
    if username:
        session["u"] = username
    return session


def cookie_options(secure: bool, max_age_s: int) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": secure, "path": "/", "max_age": max_age_s}


def csrf_token_matches(session: dict | None, submitted: str | None) -> bool:
    if not session or not submitted:
        return False
    return hmac.compare_digest(str(session.get("csrf", "")), str(submitted))


def same_origin(request: web.Request) -> bool:
    """When the browser names the page's origin, it must be this site (defence in depth beside the token)."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    expected = f"{request.scheme}://{request.host}"
    forwarded = request.headers.get("X-Forwarded-Proto")
    alternatives = {expected}
    if forwarded:
        alternatives.add(f"{forwarded}://{request.host}")
    return origin in alternatives


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_middleware(codec: SessionCodec, secure_cookie: bool, load_user: Callable[[str], Any],
                       session_alive: Callable[[str, str], bool]):
    """Puts ``request[SESSION]`` (always) and ``request[USER]`` (or None) on every request; writes
    the cookie back when the session is new or was replaced (``request[SESSION_CHANGED] = True``).
    `session_alive(sid, username)` is the server-side store's word on a logged-in cookie."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        session = codec.loads(request.cookies.get(SESSION_COOKIE))
        fresh = session is None
        if fresh:
            session = new_session()
        user = None
        if session.get("u"):
            user = load_user(str(session["u"]))
            if user is None or user.disabled or not session_alive(str(session["sid"]), user.username):
                # Logged out, password changed, account disabled or gone: the session ends now.
                session, fresh, user = new_session(), True, None
        request[SESSION] = session
        request[USER] = user
        request[SESSION_CHANGED] = fresh
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = exc
            if request.get(SESSION_CHANGED) and not response.prepared:
                _set_cookie(response, codec, request[SESSION], secure_cookie)
            raise
        if request.get(SESSION_CHANGED) and not response.prepared:
            _set_cookie(response, codec, request[SESSION], secure_cookie)
        return response

    return middleware


def _set_cookie(response: web.StreamResponse, codec: SessionCodec, session: dict, secure: bool) -> None:
    response.set_cookie(SESSION_COOKIE, codec.dumps(session), **cookie_options(secure, codec.max_age_s))


def replace_session(request: web.Request, session: dict) -> None:
    request[SESSION] = session
    request[SESSION_CHANGED] = True


def csrf_middleware(on_failure: Callable[[web.Request], Awaitable[web.StreamResponse]],
                    exempt_prefixes: tuple[str, ...] = ("/api/",)):
    """Refuses unsafe requests without the session's CSRF token (the token API is exempt: it uses a
    bearer token, not a cookie, so a browser cannot be tricked into sending it)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method in UNSAFE_METHODS and not request.path.startswith(exempt_prefixes):
            submitted = request.headers.get(CSRF_HEADER)
            if submitted is None and request.content_type in ("application/x-www-form-urlencoded",
                                                               "multipart/form-data"):
                form = await request.post()
                submitted = form.get(CSRF_FIELD)
            if not same_origin(request) or not csrf_token_matches(request.get(SESSION), submitted):
                return await on_failure(request)
        return await handler(request)

    return middleware


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _headers(exc, request)
        raise
    if not response.prepared:
        _headers(response, request)
    return response


def _headers(response: web.StreamResponse, request: web.Request) -> None:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
