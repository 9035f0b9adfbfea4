"""POST /api/v1/events: the HTTP way onto the bus for systems that do not speak Kafka.

The token is bound to one registered source (`qbus tokens add NAME --source INSTANCE`); every event
must claim that source and its party, under an agreement that registers it (403 otherwise, the same
answer for an agreement that does not exist as for one that is not the source's, Art. 10). Events
are validated and encoded exactly as the publisher SDK does (`Publisher.encode_all`): a batch is
all or nothing, and a refusal names the event's index and each field path at fault (422; 413 for
too large). The answer is 202 with the event ids once the broker has confirmed every event, so a
client that got no answer may post the same body again: the bus recognises an event id it has.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from kafka.errors import KafkaError

from agents.web.api.bodies import BodyRefused, events_from_body
from agents.web.api.common import ApiRefusal, bearer_token
from agents.web.api.sources import may_publish
from agents.web.dashboard.state import DASHBOARD
from agents.web.dashboard.users import ApiToken
from streams.publisher import BatchEventInvalid, PublishError
from streams.registry import RegistryError
from streams.validation import EventInvalid

log = logging.getLogger(__name__)


class LazyPublisher:
    """A `Publisher` made on first use, so the web server starts while the broker is still coming
    up; a failed connection is tried again at the next request. Unsigned: events keep the
    signature their source made (the dashboard's own signing key is for its users' actions only)."""

    def __init__(self, factory: Callable[[], Any]):
        self._factory = factory
        self._publisher = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._publisher is None:
                self._publisher = self._factory()
            return self._publisher

    def encode_all(self, events: list[dict]):
        return self._get().encode_all(events)

    def send_encoded(self, prepared) -> list[str]:
        return self._get().send_encoded(prepared)

    def close(self) -> None:
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None


@dataclass
class Gateway:
    publisher: Any              # encode_all(events) and send_encoded(prepared), as `streams.publisher.Publisher`
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000


GATEWAY = web.AppKey("gateway", Gateway)


async def _body(request: web.Request, limit: int) -> bytes:
    """The body, read up to `limit` bytes (the app's own small form limit does not apply here)."""
    too_large = ApiRefusal(413, f"the body is larger than {limit} bytes; send fewer events per request, and attach "
                                "large documents by reference", limit_bytes=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _check_claims(events: list[dict], token: ApiToken) -> None:
    """403 for an event that says it comes from another source or party than the token's."""
    for index, event in enumerate(events):
        source = event.get("source")
        if not isinstance(source, dict):
            continue  # validation names the missing field
        where = index if len(events) > 1 else None
        if source.get("instance") != token.source:
            raise ApiRefusal(403, f"this token publishes as source {token.source}; the event claims source "
                                  f"{source.get('instance')!r}", index=where, path="source.instance")
        if source.get("party_id") != token.party_id:
            raise ApiRefusal(403, f"source {token.source} belongs to {token.party_id}; the event claims party "
                                  f"{source.get('party_id')!r}", index=where, path="source.party_id")


def _invalid(exc: EventInvalid) -> ApiRefusal:
    index = exc.index if isinstance(exc, BatchEventInvalid) else None
    status = 413 if exc.reason_code == "TOO_LARGE" else 422
    prefix = f"event [{index}]: " if index is not None else ""
    return ApiRefusal(status, f"{prefix}{'; '.join(str(p) for p in exc.problems)}", reason_code=exc.reason_code,
                      index=index, problems=[{"path": p.path, "message": p.message} for p in exc.problems])


async def post_events(request: web.Request) -> web.Response:
    dash, gateway = request.app[DASHBOARD], request.app.get(GATEWAY)
    token = bearer_token(request)
    if gateway is None:
        raise ApiRefusal(503, "this server does not publish events (it was started without a connection to the bus)")
    if not token.source:
        raise ApiRefusal(403, "this token only reads; a token that publishes is bound to a source "
                              "(`qbus tokens add NAME --source INSTANCE`)")
    raw = await _body(request, gateway.max_body_bytes)
    try:
        events = events_from_body(raw, request.content_type)
    except BodyRefused as refused:
        raise ApiRefusal(refused.status, refused.message, index=refused.index, path=refused.path) from None
    if len(events) > gateway.max_batch:
        raise ApiRefusal(413, f"{len(events)} events in one request; at most {gateway.max_batch}")
    _check_claims(events, token)
    try:
        prepared = await asyncio.to_thread(gateway.publisher.encode_all, events)
    except EventInvalid as exc:
        raise _invalid(exc) from None
    except (RegistryError, KafkaError) as exc:  # the registry or the broker connection: nothing was sent
        log.warning("gateway: cannot encode for %s: %s", token.source, exc)
        raise ApiRefusal(503, f"the bus cannot take events right now ({type(exc).__name__}); nothing was sent, "
                              "try again") from None
    for index, (_topic, value, _data) in enumerate(prepared):
        if not may_publish(dash.agreement_set, value["agreement_id"], token.source, token.party_id):
            raise ApiRefusal(403, f"agreement {value['agreement_id']!r} does not register source {token.source} of "
                                  f"{token.party_id}", index=index if len(prepared) > 1 else None, path="agreement_id")
    try:
        ids = await asyncio.to_thread(gateway.publisher.send_encoded, prepared)
    except PublishError as exc:
        raise ApiRefusal(503, f"{exc}. Post the same events again: the bus recognises the event ids it has") from None
    log.info("gateway: %d event(s) from %s confirmed by the broker", len(ids), token.source)
    return web.json_response({"event_ids": ids}, status=202)
