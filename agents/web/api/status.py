"""GET /api/v1/events/{event_id}: what became of an event, for the party that may see it.

``recorded`` (with its ledger position and hash), ``dead_lettered`` (with the reason a person can
act on) or ``unknown``. Tenancy (Art. 10): an event of an agreement the token's party is not a party
to is answered ``unknown``, exactly as one the bus never saw, and so is a dead letter that names no
agreement (the bus could not tell whose it was).
"""
from __future__ import annotations

import asyncio
import json

from aiohttp import web

from agents.web.api.common import bearer_token
from agents.web.dashboard.state import DASHBOARD


def _agreements_of(state) -> set:
    if state.record is not None:
        return {state.record.agreement_id}
    return {json.loads(letter.body).get("agreement_id") for letter in state.dead_letters}


async def event_status(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    token = bearer_token(request)
    event_id = request.match_info["event_id"]
    state = await asyncio.to_thread(dash.ledger.event_state, event_id)
    agreements = _agreements_of(state)
    if state.status != "unknown" and (None in agreements or not all(
            dash.model.can_see(token.party_id, None, a) for a in agreements)):
        return web.json_response({"event_id": event_id, "status": "unknown"})
    return web.json_response(state.to_json(), dumps=lambda v: json.dumps(v, ensure_ascii=False))
