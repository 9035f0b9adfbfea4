"""Bad input is the sender's mistake: a 400 with a plain reason, never a 500.

`input_guard` checks what every route receives before a handler sees it: query values of sane size,
and for the pages' POSTs a form body (URL-encoded or multipart) that decodes as UTF-8, with fields
of sane size. `local_path` vets a ``next`` target: a path on this site, without control characters.
Handlers raise `BadInput` with an i18n key (agents/web/dashboard/i18n_text.py) for anything else.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlsplit

from aiohttp import web

from agents.web.dashboard.i18n_text import TEXT

MAX_QUERY_VALUE = 6000       # an API cursor of a manufacturer with many agreements fits (cursor.MAX_CURSOR_LENGTH)
MAX_FORM_VALUE = 8000        # a reason or a note: a few paragraphs
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadInput(web.HTTPBadRequest):
    """A request the sender must fix; `key` names the plain reason in i18n_text."""

    def __init__(self, key: str):
        super().__init__(text=TEXT.get(key, (key, key))[0])
        self.key = key


def _has_control_characters(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in text)


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site ('/' when empty); BadInput otherwise (never follow a
    link off-site after a login or a language switch, and never put a line break in a header)."""
    if not target:
        return "/"
    if _has_control_characters(target) or len(target) > MAX_QUERY_VALUE:
        raise BadInput("bad_next")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        raise BadInput("bad_next")
    return target


def _strict_utf8(body: bytes) -> None:
    """Raise UnicodeDecodeError unless every name and value decodes as UTF-8 once percent-decoded
    (aiohttp would quietly put U+FFFD in place of what the sender meant)."""
    for pair in body.split(b"&"):
        for piece in pair.split(b"=", 1):
            unquote_to_bytes(piece.replace(b"+", b" ")).decode("utf-8")


async def read_form(request: web.Request):
    """The request's form fields, or BadInput when the body is not a form this site can read."""
    if request.content_type not in FORM_TYPES:
        raise BadInput("bad_form_type")
    try:
        if request.content_type == FORM_TYPES[0]:
            _strict_utf8(await request.read())
        form = await request.post()
    except (UnicodeDecodeError, LookupError, ValueError, AssertionError):
        # Not UTF-8, an unknown charset, or a broken multipart body.
        raise BadInput("bad_form_encoding") from None
    for value in form.values():
        if not isinstance(value, str):
            raise BadInput("bad_form_type")  # a file upload: no page takes one
        if len(value) > MAX_FORM_VALUE:
            raise BadInput("bad_form_size")
    return form


@web.middleware
async def input_guard(request: web.Request, handler) -> web.StreamResponse:
    try:
        query = request.query
    except (UnicodeDecodeError, ValueError):
        raise BadInput("bad_query") from None
    if any(len(key) > 64 or len(value) > MAX_QUERY_VALUE for key, value in query.items()):
        raise BadInput("bad_query")
    if request.method == "POST" and not request.path.startswith("/api/"):
        await read_form(request)  # parsed once here; handlers get aiohttp's cached copy
    return await handler(request)
