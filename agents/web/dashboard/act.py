"""The one write path of the pages: POST an action on an item, published on the bus.

Actions publish holder events with the publisher (`agents.web.dashboard.actions`); nothing is written
anywhere else, and the page shows an action as "sent" until the ledger has it.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote

from aiohttp import web

from agents.web.dashboard import actions
from agents.web.dashboard.pages import item_page
from agents.web.dashboard.rendering import _item_url, _redirect, current_user, render
from agents.web.dashboard.state import DASHBOARD, NotFound

log = logging.getLogger(__name__)


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
            event = actions.approve_change(item, user, form.get("conditions"), now, dash.agreement_set)
        elif what == "reject":
            event = actions.reject_change(item, user, str(form.get("reason") or ""), now, dash.agreement_set)
        elif what == "acknowledge":
            event = actions.acknowledge(item, user, side, form.get("note"), now, dash.agreement_set)
        elif what == "feedback":
            accepts = {"yes": True, "no": False}.get(str(form.get("accepts") or ""))
            event = actions.coline_feedback(item, user, str(form.get("feedback") or ""), accepts, now, dash.agreement_set)
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
