"""Live updates: the background reading of the ledger and the server-sent events stream.

A background task reads records after the last seen ``seq`` every ``poll_interval_s``, folds them
into the `ReadModel`, and tells each open live stream which of *its* agreements changed (a stream
never hears of an agreement its user may not see). The browser then re-fetches the part of the page
it shows (same URL, header ``X-Qbus-Partial: 1``), through the same tenancy checks as the page itself.
"""
from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from agents.web.dashboard.rendering import current_user
from agents.web.dashboard.security import SESSION
from agents.web.dashboard.state import DASHBOARD, Dashboard

log = logging.getLogger(__name__)

QUIET = object()  # nothing happened for a heartbeat: still check the session, then send a keep-alive


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: 'change' with the position and the changed agreements this user may see."""
    user = current_user(request, page=False)
    dash = request.app[DASHBOARD]
    only = request.query.get("agreement")
    if only is not None:
        dash.agreement_for(user, only)
    username = user.username
    sid = request[SESSION]["sid"]

    def allow(agreement_id: str) -> bool:
        return (only is None or agreement_id == only) and dash.can_see(user, agreement_id)

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sub = dash.hub.subscribe(allow)
    try:
        hello = {"position": dash.position_of([only] if only else dash.visible(user))}
        await response.write(f"retry: 2000\nevent: hello\ndata: {json.dumps(hello)}\n\n".encode())
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=dash.settings.heartbeat_s)
            except TimeoutError:
                message = QUIET
            if message is None:
                break
            current = dash.users.get(username)
            if current is None or current.disabled or not dash.sessions.alive(sid, username):
                break  # logged out, password changed or account disabled: the stream ends with the session
            if message is QUIET:
                await response.write(b": keep-alive\n\n")
                continue
            await response.write(f"event: change\ndata: {json.dumps(message)}\n\n".encode())
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        dash.hub.unsubscribe(sub)
    return response


async def _poll_forever(dash: Dashboard) -> None:
    while True:
        try:
            await dash.poll_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading the ledger failed; retrying")
        await asyncio.sleep(dash.settings.poll_interval_s)
