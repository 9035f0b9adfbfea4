"""Subscriber API for holder (and manufacturer) systems: read a party's stream from a cursor,
then follow it live. Token-authenticated; a token reaches its own party's agreements only (Art. 10).

    GET /api/v1/agreements                      the agreements this token may read
    GET /api/v1/records?since=CURSOR&limit=N    records after CURSOR, oldest first (a page)
        &agreement=ID                           ... of one agreement (403 if not the token's)
        &types=deviation.*,change.approved      ... of these event types ('category.*' for a category)
        &wait=S                                 long-poll: with nothing new, wait up to S seconds
    GET /api/v1/stream?since=CURSOR             the same as server-sent events, live: one
                                                ``event: record`` per record, ``id:`` = the cursor
                                                after it, so a reconnect with Last-Event-ID resumes
                                                exactly where the last record left off

Authorization: ``Bearer qbt_<id>_<secret>`` (``qbus tokens add``).

The cursor (`agents.web.dashboard.cursor`) is opaque: ``base64url(JSON {agreement_id: chain_seq})``,
no padding, the last chain position read in each of the token's agreements. Each record carries
``cursor`` (the position after it), a page ``next_since`` (after its last record) and ``head`` (the
end of the token's agreements now); a subscriber keeps the last cursor it processed and sends it back
as ``since`` (or Last-Event-ID). ``since=0`` or no cursor reads from the start. The ledger's global
sequence number is never shown: it counts every holder's records, and its gaps would tell one holder
how busy the others are; ``chain_seq`` counts the agreement's own. A malformed cursor, or one naming
an agreement the token does not read, is a 400.

Each record carries the event as stored, its place in its agreement's chain (``chain``,
``chain_seq``) and hash, so a holder can check it against an inspection package. Co-line notices are
shown to a holder as the bus routes them to holders: without business-confidential fields (fan-out
notices) and without other holders' names (``redacted: true``; the hash is of the full record and
cannot be re-computed from a redacted body).
"""
from __future__ import annotations

import asyncio
import heapq
import json
import logging
from itertools import islice
from typing import Any

from aiohttp import web

from agents.core.visibility import shown_event, viewer_of
from agents.web.dashboard import cursor
from agents.web.dashboard.state import DASHBOARD

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _token(request: web.Request):
    dash = request.app[DASHBOARD]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    token = dash.users.check_token(value.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        raise web.HTTPUnauthorized(text=json.dumps({"error": "a valid bearer token is required"}),
                                   content_type="application/json",
                                   headers={"WWW-Authenticate": 'Bearer realm="qbus"'})
    return token


def _agreements(dash, token, agreement: str | None) -> list[str]:
    visible = dash.model.visible_agreements(token.party_id, None)
    if agreement is None:
        return visible
    if agreement not in visible:
        raise web.HTTPForbidden(text=json.dumps({"error": "this token may not read that agreement"}),
                                content_type="application/json")
    return [agreement]


def _bad(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None:
        raise _bad(f"{name} must be an integer")
    return max(low, min(high, value))


def _positions(text: str | None, readable: list[str]) -> dict[str, int]:
    try:
        return cursor.decode(text, readable)
    except cursor.BadCursor as bad:
        raise _bad(str(bad)) from None


def _types(request: web.Request) -> list[str] | None:
    raw = request.query.get("types")
    return [t.strip() for t in raw.split(",") if t.strip()] if raw else None


def record_json(record: Any, party_id: str, side: str | None, after: str, agreements: Any = None) -> dict:
    body = json.loads(record.body)
    shown = shown_event(body, viewer_of(party_id, side), agreements).body
    return {
        "cursor": after, "chain": record.chain, "chain_seq": record.chain_seq, "event_type": record.event_type,
        "agreement_id": record.agreement_id, "item_ref": record.item_ref,
        "recorded_at": record.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "hash": record.hash, "prev_hash": record.prev_hash, "key_id": record.key_id,
        "redacted": shown != body, "event": shown,
    }


def _after(dash, agreement: str, chain_seq: int, types: list[str] | None):
    """The agreement's event records after `chain_seq` of its chain, in ledger order."""
    start = dash.model.seq_at(agreement, chain_seq)  # a ledger position at or before it: skips the rest
    for record in dash.ledger.iter(agreement=agreement, since=start, kinds=["event"], event_types=types):
        if record.chain_seq > chain_seq:
            yield record


def read_page(dash, token, agreements: list[str], positions: dict[str, int], limit: int,
              types: list[str] | None) -> tuple[list[dict], dict[str, int]]:
    """Up to `limit` event records of these agreements after `positions`, and the positions after them."""
    streams = [_after(dash, a, positions.get(a, 0), types) for a in agreements]
    merged = heapq.merge(*streams, key=lambda r: r.seq)  # the order between agreements; seq itself is not shown
    positions = dict(positions)
    out = []
    for record in islice(merged, limit):
        positions[record.chain] = record.chain_seq
        out.append(record_json(record, token.party_id, dash.model.role_in(token.party_id, record.agreement_id),
                               cursor.encode(positions), dash.agreement_set))
    return out, positions


def _head(dash, agreements: list[str]) -> str:
    return cursor.encode({a: dash.model.agreements[a].last_chain_seq for a in agreements if a in dash.model.agreements})


async def agreements_view(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    token = _token(request)
    out = []
    for agreement_id in _agreements(dash, token, None):
        info = dash.model.agreements[agreement_id]
        out.append({"agreement_id": agreement_id, "holder_id": info.holder_id, "manufacturer_id": info.manufacturer_id,
                    "title": info.title, "timezone": info.timezone, "last_chain_seq": info.last_chain_seq,
                    "role": dash.model.role_in(token.party_id, agreement_id)})
    return web.json_response({"party_id": token.party_id, "agreements": out})


async def records_view(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    token = _token(request)
    agreements = _agreements(dash, token, request.query.get("agreement"))
    positions = _positions(request.query.get("since"), dash.model.visible_agreements(token.party_id, None))
    limit = _int(request, "limit", dash.settings.api_page_limit, 1, dash.settings.api_page_limit)
    wait = _int(request, "wait", 0, 0, int(dash.settings.api_max_wait_s))
    types = _types(request)
    records, after = await asyncio.to_thread(read_page, dash, token, agreements, positions, limit, types)
    if not records and wait:
        only = set(agreements) if request.query.get("agreement") else None

        def allow(agreement_id: str) -> bool:
            return (only is None or agreement_id in only) and dash.model.can_see(token.party_id, None, agreement_id)

        sub = dash.hub.subscribe(allow)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait
            while not records and loop.time() < deadline:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=deadline - loop.time())
                except TimeoutError:
                    break
                if message is None:
                    break
                agreements = _agreements(dash, token, request.query.get("agreement"))
                records, after = await asyncio.to_thread(read_page, dash, token, agreements, positions, limit, types)
        finally:
            dash.hub.unsubscribe(sub)
    return web.json_response({"party_id": token.party_id, "records": records, "next_since": cursor.encode(after),
                              "head": _head(dash, agreements)}, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def stream_view(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    token = _token(request)
    only = request.query.get("agreement")
    _agreements(dash, token, only)
    readable = dash.model.visible_agreements(token.party_id, None)
    # A reconnecting EventSource names the last record it had: that wins over the URL's own start.
    positions = _positions(request.headers.get("Last-Event-ID") or request.query.get("since"), readable)
    types = _types(request)
    limit = dash.settings.api_page_limit

    def allow(agreement_id: str) -> bool:
        return (only is None or agreement_id == only) and dash.model.can_see(token.party_id, None, agreement_id)

    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    sub = dash.hub.subscribe(allow)
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            if dash.users.token(token.token_id) is None or dash.users.token(token.token_id).disabled:
                break  # revoked while streaming
            agreements = _agreements(dash, token, only)
            records, positions = await asyncio.to_thread(read_page, dash, token, agreements, positions, limit, types)
            for record in records:
                data = json.dumps(record, ensure_ascii=False)
                await response.write(f"id: {record['cursor']}\nevent: record\ndata: {data}\n\n".encode())
            if len(records) == limit:
                continue
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=dash.settings.heartbeat_s)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is None:
                break
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        dash.hub.unsubscribe(sub)
    return response


def setup_api(app: web.Application) -> None:
    app.router.add_get(f"{API_PREFIX}/agreements", agreements_view)
    app.router.add_get(f"{API_PREFIX}/records", records_view)
    app.router.add_get(f"{API_PREFIX}/stream", stream_view)
