"""What the gateway's handlers share: JSON refusals and the bearer token."""
from __future__ import annotations

import json

from aiohttp import web

from agents.web.dashboard.state import DASHBOARD
from agents.web.dashboard.users import ApiToken


class ApiRefusal(web.HTTPException):
    """A JSON error answer: ``{"error": "<what is wrong, for a person>", ...details}``."""

    def __init__(self, status: int, error: str, headers: dict | None = None, **details):
        self.status_code = status
        body = {"error": error, **{k: v for k, v in details.items() if v is not None}}
        super().__init__(text=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers)


def bearer_token(request: web.Request) -> ApiToken:
    """The request's enabled token, or 401 (the same answer for a missing, malformed, unknown or revoked one)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    users = request.app[DASHBOARD].users
    token = users.check_token(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise ApiRefusal(401, "a valid bearer token is required (Authorization: Bearer qbt_...; `qbus tokens add`)",
                         headers={"WWW-Authenticate": 'Bearer realm="qbus"'})
    return token
