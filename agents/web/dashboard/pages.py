"""The pages: overview, agreement, item, queue and batches (each also served as a partial)."""
from __future__ import annotations

from urllib.parse import quote
from zoneinfo import ZoneInfo

from aiohttp import web

from agents.core.visibility import shown_event, viewer_of
from agents.web.dashboard import decisions
from agents.web.dashboard.items import OVERVIEW_CATEGORIES, Item
from agents.web.dashboard.rendering import current_user, render
from agents.web.dashboard.state import DASHBOARD, Dashboard, NotFound
from agents.web.dashboard.users import User
from streams.signing import verify_decision


async def overview(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    now = dash.clock()
    sections = []
    for agreement_id in dash.visible(user):
        info = dash.model.agreements[agreement_id]
        side = dash.side_in(user, agreement_id)
        sections.append({
            "info": info, "side": side,
            "counts": dash.model.counts(agreement_id, now),
            "attention": dash.model.attention(agreement_id, now, limit=12),
            "recent": dash.model.recent_entries(agreement_id, 8),
            "directives": dash.model.active_directives(agreement_id),
            "waiting": _queue_size(dash, [agreement_id], side),
        })
    return render(request, "overview.html", {"sections": sections, "nav": "overview", "stream_url": "/events"})


def _queue_size(dash: Dashboard, agreement_ids: list[str], side: str | None) -> int:
    if side is None:
        return 0
    size = len(dash.model.acknowledgements(agreement_ids, side))
    if side == "HOLDER":
        size += (len(dash.model.approvals(agreement_ids)) + len(dash.model.capa_approvals(agreement_ids))
                 + len(dash.model.coline_feedback(agreement_ids)))
    return size


async def agreement_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    category = request.query.get("category") or None
    if category is not None and category not in OVERVIEW_CATEGORIES and not dash.model.items_of(info.agreement_id, category):
        category = None
    now = dash.clock()
    zone = ZoneInfo(info.timezone)
    today = now.astimezone(zone).date()
    first = info.first_recorded_at.astimezone(zone).date() if info.first_recorded_at else today
    return render(request, "agreement.html", {
        "info": info, "category": category, "categories": OVERVIEW_CATEGORIES,
        "counts": {c.category: c for c in dash.model.counts(info.agreement_id, now)},
        "items": dash.model.sorted_items(info.agreement_id, now, category),
        "export_from": first.isoformat(), "export_to": today.isoformat(), "export_available": dash.export is not None,
        "nav": "overview", "stream_url": f"/events?agreement={quote(info.agreement_id, safe='')}",
    })


async def item_page(request: web.Request, *, error: str | None = None, status: int = 200,
                    form: dict | None = None) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    info = dash.agreement_for(user, request.match_info["agreement_id"])
    item = dash.model.item(info.agreement_id, request.match_info["item_ref"])
    if item is None or not item.category:
        raise NotFound()
    side = dash.side_in(user, info.agreement_id)
    pending = dash.pending_for(item)
    refused = [(p, dash.model.dead_letters[p.event_id]) for p in list(dash.pending.values())
               if (p.agreement_id, p.item_ref) == item.key and p.event_id in dash.model.dead_letters]
    readiness = dash.model.readiness_of(item)
    decision = decisions.awaited_decision(item, user, side, readiness) if not pending else None
    can = available_actions(item, user, side) if not pending else []
    entries = [(e, shown_event(e.event, viewer_of(user.party_id, side), dash.agreement_set).body) for e in item.entries]
    obligations = sorted(item.obligations.values(), key=lambda o: (not o.is_open, o.due_at or dash.clock()))
    registry = dash.keys.registry()
    signatures = [(e, shown, verify_decision(shown, registry)) for e, shown in entries if shown.get("esignature")]
    return render(request, "item.html", {
        "info": info, "item": item, "entries": entries, "obligations": obligations, "side": side,
        "can": can, "pending": pending, "refused": refused, "error": error, "form": form or {},
        "decision": decision, "meanings": decisions.MEANINGS_OF.get(decision or "", ()), "readiness": readiness,
        "signatures": signatures, "sent": request.query.get("sent"), "nav": "overview",
        "stream_url": f"/events?agreement={quote(info.agreement_id, safe='')}",
    }, status=status)


def available_actions(item: Item, user: User, side: str | None) -> list[str]:
    """The actions sent at once (decisions are signed: `agents.web.dashboard.decisions`)."""
    if not user.can_act or side is None or side != user.side:
        return []
    can = []
    if side == "HOLDER" and item.awaiting_feedback():
        can.append("feedback")
    if item.awaiting_acknowledgement(side):
        can.append("acknowledge")
    return can


async def queue_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    visible = dash.visible(user)
    holder_side = [a for a in visible if dash.side_in(user, a) == "HOLDER"]
    by_side: dict[str, list[str]] = {}
    for agreement_id in visible:
        by_side.setdefault(dash.side_in(user, agreement_id), []).append(agreement_id)
    acknowledgements = [i for s, ids in by_side.items() if s for i in dash.model.acknowledgements(ids, s)]
    pending_items = {(p.agreement_id, p.item_ref) for p in dash.pending.values()}
    return render(request, "queue.html", {
        "approvals": dash.model.approvals(holder_side),
        "capa_approvals": dash.model.capa_approvals(holder_side),
        "acknowledgements": acknowledgements,
        "coline": dash.model.coline_feedback(holder_side),
        "batches": [(a, r) for a in visible for r in dash.model.batch_readiness(a) if r.status != "market_released"],
        "pending_items": pending_items, "holder": bool(holder_side),
        "can_act": user.can_act, "nav": "queue", "stream_url": "/events",
    })


async def batches_page(request: web.Request) -> web.Response:
    user = current_user(request)
    dash = request.app[DASHBOARD]
    sections = [{"info": dash.model.agreements[a], "batches": dash.model.batch_readiness(a)} for a in dash.visible(user)]
    return render(request, "batches.html", {"sections": sections, "nav": "batches", "stream_url": "/events"})
