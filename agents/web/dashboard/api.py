"""Subscriber API for holder (and manufacturer) systems: read a party's stream from a ledger offset,
then follow it live. Token-authenticated; a token reaches its own party's agreements only (Art. 10).

    GET /api/v1/agreements                      the agreements this token may read
    GET /api/v1/records?since=SEQ&limit=N       records with seq > SEQ, oldest first (a page)
        &agreement=ID                           ... of one agreement (403 if not the token's)
        &types=deviation.*,change.approved      ... of these event types ('category.*' for a category)
        &wait=S                                 long-poll: with nothing new, wait up to S seconds
    GET /api/v1/stream?since=SEQ                the same as server-sent events, live: one
                                                ``event: record`` per record, ``id:`` = seq, so a
                                                reconnect with Last-Event-ID resumes exactly

Authorization: ``Bearer qbt_<id>_<secret>`` (``qbus tokens add``). The offset is the ledger
sequence number (``seq``), global and gap-free within what a token sees in order; a subscriber keeps
the last seq it processed and resumes from it. Each record carries the event as stored, its ledger
position and hash, so a holder can check it against an inspection package. Co-line notices are
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


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"{name} must be an integer"}),
                                 content_type="application/json") from None
    return max(low, min(high, value))


def _types(request: web.Request) -> list[str] | None:
    raw = request.query.get("types")
    return [t.strip() for t in raw.split(",") if t.strip()] if raw else None


def record_json(record: Any, party_id: str, side: str | None, agreements: Any = None) -> dict:
    body = json.loads(record.body)
    shown = shown_event(body, viewer_of(party_id, side), agreements).body
    return {
        "seq": record.seq, "chain": record.chain, "chain_seq": record.chain_seq, "event_type": record.event_type,
        "agreement_id": record.agreement_id, "item_ref": record.item_ref,
        "recorded_at": record.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "hash": record.hash, "prev_hash": record.prev_hash, "key_id": record.key_id,
        "redacted": shown != body, "event": shown,
    }


def read_page(dash, token, agreements: list[str], since: int, limit: int, types: list[str] | None) -> list[dict]:
    """Up to `limit` event records of these agreements with seq > since, in seq order."""
    streams = [dash.ledger.iter(agreement=a, since=since, kinds=["event"], event_types=types) for a in agreements]
    merged = heapq.merge(*streams, key=lambda r: r.seq)
    return [record_json(r, token.party_id, dash.model.role_in(token.party_id, r.agreement_id), dash.agreement_set)
            for r in islice(merged, limit)]


async def agreements_view(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    token = _token(request)
    out = []
    for agreement_id in _agreements(dash, token, None):
        info = dash.model.agreements[agreement_id]
        out.append({"agreement_id": agreement_id, "holder_id": info.holder_id, "manufacturer_id": info.manufacturer_id,
                    "title": info.title, "timezone": info.timezone, "last_seq": info.last_seq,
                    "role": dash.model.role_in(token.party_id, agreement_id)})
    return web.json_response({"party_id": token.party_id, "agreements": out})


async def records_view(request: web.Request) -> web.Response:
    dash = request.app[DASHBOARD]
    token = _token(request)
    agreements = _agreements(dash, token, request.query.get("agreement"))
    since = _int(request, "since", 0, 0, 2**62)
    limit = _int(request, "limit", dash.settings.api_page_limit, 1, dash.settings.api_page_limit)
    wait = _int(request, "wait", 0, 0, int(dash.settings.api_max_wait_s))
    types = _types(request)
    records = await asyncio.to_thread(read_page, dash, token, agreements, since, limit, types)
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
                except asyncio.TimeoutError:
                    break
                if message is None:
                    break
                agreements = _agreements(dash, token, request.query.get("agreement"))
                records = await asyncio.to_thread(read_page, dash, token, agreements, since, limit, types)
        finally:
            dash.hub.unsubscribe(sub)
    next_since = records[-1]["seq"] if records else since
    return web.json_response({"party_id": token.party_id, "records": records, "next_since": next_since,
                              "head": dash.seq_of(agreements)}, dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def stream_view(request: web.Request) -> web.StreamResponse:
    dash = request.app[DASHBOARD]
    token = _token(request)
    only = request.query.get("agreement")
    _agreements(dash, token, only)
    since = _int(request, "since", 0, 0, 2**62)
    last_event_id = request.headers.get("Last-Event-ID")
    if last_event_id and last_event_id.isdigit():
        since = int(last_event_id)
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
            records = await asyncio.to_thread(read_page, dash, token, agreements, since, limit, types)
            for record in records:
                data = json.dumps(record, ensure_ascii=False)
                await response.write(f"id: {record['seq']}\nevent: record\ndata: {data}\n\n".encode())
                since = record["seq"]
            if len(records) == limit:
                continue
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=dash.settings.heartbeat_s)
            except asyncio.TimeoutError:
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
