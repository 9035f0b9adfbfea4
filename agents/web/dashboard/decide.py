"""Signing a decision in two steps: state it (POST .../decide), then review it and sign it with the
password (POST .../sign). See `agents.web.dashboard.decisions` for what is signed and why.

A wrong password refuses the signature, publishes nothing and counts as a failed login for the
(user, address) pair (`agents.web.dashboard.throttle`), so re-authentication is no side door for
guessing. Everything else that is wrong with the request is shown on the item or review page.
"""
from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from agents.web.dashboard import decisions
from agents.web.dashboard.act import item_of, publish
from agents.web.dashboard.actions import ActionRefused
from agents.web.dashboard.inputs import read_form
from agents.web.dashboard.pages import item_page
from agents.web.dashboard.rendering import render
from agents.web.dashboard.security import SESSION
from agents.web.dashboard.state import DASHBOARD

log = logging.getLogger(__name__)


async def decide(request: web.Request) -> web.Response:
    """Step 1: the meaning and the reason; answers with the review page (nothing is sent yet)."""
    user, info, item, side = item_of(request)
    dash = request.app[DASHBOARD]
    form = await read_form(request)
    readiness = dash.model.readiness_of(item)
    kind = decisions.awaited_decision(item, user, side, readiness)
    if kind is None:
        if not user.can_act or side != "HOLDER" or user.side != "HOLDER":
            return render(request, "error.html", {"title": "forbidden", "text": "forbidden_text"}, status=403)
        return await item_page(request, error="not_awaiting", status=409)
    if dash.pending_for(item):
        return await item_page(request, error="not_awaiting", status=409)
    try:
        draft = decisions.draft_decision(item, user, request[SESSION]["sid"], kind, str(form.get("meaning") or ""),
                                         str(form.get("reason") or ""), dash.clock(), dash.agreement_set, readiness)
    except ActionRefused as refused:
        return await item_page(request, error=refused.key, status=refused.status, form=dict(form))
    dash.drafts.put(draft)
    return review_page(request, draft, info, item, readiness)


def review_page(request: web.Request, draft: decisions.Draft, info, item, readiness, *, error: str | None = None,
                wait: int = 0, status: int = 200) -> web.Response:
    dash = request.app[DASHBOARD]
    return render(request, "confirm.html", {
        "info": info, "item": item, "draft": draft, "readiness": readiness, "error": error, "wait": wait,
        "key_id": dash.keys.key_id(draft.username), "covered": decisions.covered_fields(draft), "nav": "overview",
    }, status=status)


async def sign(request: web.Request) -> web.Response:
    """Step 2: the password re-entered for this one signature; publishes the signed decision."""
    user, info, item, side = item_of(request)
    dash = request.app[DASHBOARD]
    form = await read_form(request)
    now = dash.clock()
    draft = dash.drafts.get(str(form.get("draft") or ""), request[SESSION]["sid"], user.username, now)
    if draft is None or (draft.agreement_id, draft.item_ref) != item.key:
        return await item_page(request, error="draft_expired", status=409)
    readiness = dash.model.readiness_of(item)
    if (len(item.entries) != draft.item_version or dash.pending_for(item)
            or decisions.awaited_decision(item, user, side, readiness) != draft.kind):
        # The item moved on while the person was reading: they must see the new state before signing.
        dash.drafts.discard(draft.draft_id)
        return await item_page(request, error="item_changed", status=409)
    address = dash.address_of(request)
    wait = dash.throttle.retry_after(user.username, address)
    if wait:
        log.warning("signature throttled for %s from %s (%d s)", user.username, address, wait)
        response = review_page(request, draft, info, item, readiness, error="login_throttled", wait=wait, status=429)
        response.headers["Retry-After"] = str(wait)
        return response
    password = str(form.get("password") or "")
    if await asyncio.to_thread(dash.users.authenticate, user.username, password) is None:
        dash.throttle.failure(user.username, address)
        log.warning("wrong password at signing %s of %s/%s by %s from %s", draft.event_type, info.agreement_id,
                    item.item_ref, user.username, address)
        return review_page(request, draft, info, item, readiness, error="signature_password_wrong", status=401)
    dash.throttle.success(user.username, address)
    key = await asyncio.to_thread(dash.keys.unlock, user.username, password)
    if key.created:
        log.info("created signing key %s for %s; published in %s", key.key_id, user.username, dash.keys.registry_path)
    event = decisions.signed_event(draft, key, now)
    dash.drafts.discard(draft.draft_id)
    log.info("%s signed %s (%s) for %s/%s with key %s", user.username, draft.event_type, draft.meaning,
             info.agreement_id, item.item_ref, key.key_id)
    return await publish(request, event, info, item, user, now, {})
