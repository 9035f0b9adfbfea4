"""The write path of the pages: POST an action on an item, published on the bus.

Actions publish holder (or manufacturer) events with the publisher (`agents.web.dashboard.actions`);
nothing is written anywhere else, and the page shows an action as "sent" until the ledger has it.
Acknowledgements and co-line feedback are sent at once; decisions (approve, reject, release) are
electronic signatures and go through `agents.web.dashboard.decide` first.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from urllib.parse import quote

from aiohttp import web

from agents.web.dashboard import actions
from agents.web.dashboard.agreementinfo import AgreementInfo
from agents.web.dashboard.inputs import read_form
from agents.web.dashboard.items import Item
from agents.web.dashboard.pages import item_page
from agents.web.dashboard.rendering import _item_url, _redirect, current_user, render
from agents.web.dashboard.state import DASHBOARD, NotFound
from agents.web.dashboard.users import User

log = logging.getLogger(__name__)


def item_of(request: web.Request) -> tuple[User, AgreementInfo, Item, str | None]:
    """The user, agreement, item and the user's side in it; 404 for what the user may not see."""
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    item = dash.model.item(info.agreement_id, request.match_info["item_ref"])
    if item is None or not item.category:
        raise NotFound()
    return user, info, item, dash.side_in(user, info.agreement_id)


async def act(request: web.Request) -> web.Response:
    user, info, item, side = item_of(request)
    dash = request.app[DASHBOARD]
    what = request.match_info["action"]
    if what not in ("acknowledge", "feedback"):
        raise NotFound()
    if not user.can_act or side is None or side != user.side:
        return render(request, "error.html", {"title": "forbidden", "text": "forbidden_text"}, status=403)
    form = await read_form(request)
    if dash.pending_for(item):
        return await item_page(request, error="not_awaiting", status=409)
    now = dash.clock()
    try:
        if what == "acknowledge":
            event = actions.acknowledge(item, user, side, form.get("note"), now, dash.agreement_set)
        else:
            accepts = {"yes": True, "no": False}.get(str(form.get("accepts") or ""))
            event = actions.coline_feedback(item, user, str(form.get("feedback") or ""), accepts, now, dash.agreement_set)
    except actions.ActionRefused as refused:
        return await item_page(request, error=refused.key, status=refused.status, form=dict(form))
    return await publish(request, event, info, item, user, now, dict(form))


async def publish(request: web.Request, event: dict, info: AgreementInfo, item: Item, user: User, now: datetime,
                  form: dict) -> web.Response:
    """Send the event; on success, note it as sent and go back to the item page."""
    dash = request.app[DASHBOARD]
    try:
        event_id = await asyncio.to_thread(dash.bus.publish, event)
    except Exception as exc:
        from streams.validation import EventInvalid

        if isinstance(exc, EventInvalid):
            log.error("dashboard event %s for %s/%s refused by validation: %s", event["event_type"],
                      info.agreement_id, item.item_ref, exc)
            return await item_page(request, error="invalid_event", status=422, form=form)
        log.exception("publishing %s for %s/%s failed", event["event_type"], info.agreement_id, item.item_ref)
        return await item_page(request, error="publish_failed", status=502, form=form)
    dash.pending[event_id] = actions.SentAction(event_id, event["event_type"], info.agreement_id, item.item_ref,
                                                user.signature_name, now)
    log.info("%s published %s %s for %s/%s", user.username, event["event_type"], event_id, info.agreement_id,
             item.item_ref)
    dash.hub.notify({info.agreement_id})
    return _redirect(f"{_item_url(info.agreement_id, item.item_ref)}?sent={quote(event_id)}")
