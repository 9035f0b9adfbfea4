"""Subscriber SDK for holder systems: read your stream over HTTP from a cursor, then follow it live.

    from streams.http_subscriber import Subscriber

    with Subscriber("https://qbus.example/", token, since=load_cursor()) as sub:
        for record in sub.follow():              # server-sent events; reconnects and resumes by itself
            handle(record.event)                  # the event, as the bus recorded it
            save_cursor(record.cursor)            # keep the cursor: restart from it next time

The cursor is opaque text the server hands out with every record (per agreement, how far its own
chain has been read; see agents/web/dashboard/api.py); keep the last one and pass it back as
`since`. ``0`` (the default) reads from the start. The server returns only the agreements of the
token's party (Art. 10). `read` fetches one page; `poll` long-polls (waits up to `wait` seconds for
something new); `follow` streams with server-sent events and falls back to long-polling with
``sse=False``. Delivery is at least once across reconnects only if you save the cursor after
handling a record; a record delivered twice (same event id, within the last `dedupe_window`) is
yielded once.
"""
from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Self

import httpx

log = logging.getLogger(__name__)


class SubscriberError(RuntimeError):
    """The server refused the request (bad token, agreement not yours, bad parameter)."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class SubscribedRecord:
    cursor: str                  # where to resume after this record (pass it back as `since`)
    agreement_id: str
    item_ref: str | None
    event_type: str
    recorded_at: str
    hash: str
    prev_hash: str
    chain_seq: int
    redacted: bool
    event: dict

    @classmethod
    def from_json(cls, data: dict) -> SubscribedRecord:
        return cls(cursor=str(data["cursor"]), agreement_id=data["agreement_id"], item_ref=data.get("item_ref"),
                   event_type=data["event_type"], recorded_at=data["recorded_at"], hash=data["hash"],
                   prev_hash=data["prev_hash"], chain_seq=data["chain_seq"], redacted=bool(data.get("redacted")),
                   event=data["event"])


    @property
    def event_id(self) -> str | None:
        return self.event.get("event_id") if isinstance(self.event, dict) else None


class RecentIds:
    """The last `size` event ids yielded: a record delivered twice is yielded once."""

    def __init__(self, size: int):
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, key: str | None) -> bool:
        if key is None:
            return False
        if key in self._ids:
            return True
        self._ids[key] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return False


class Subscriber:
    def __init__(self, base_url: str, token: str, *, since: str | int = 0, agreement: str | None = None,
                 event_types: Iterable[str] | None = None, timeout: float = 30.0,
                 client: httpx.Client | None = None, dedupe_window: int = 10_000):
        self.base_url = base_url.rstrip("/")
        self.position = str(since or 0)
        self._recent = RecentIds(dedupe_window)
        self.agreement = agreement
        self.event_types = list(event_types) if event_types else None
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout, read=timeout + 60),
                                              headers={"Authorization": f"Bearer {token}"})
        if client is not None:
            self._client.headers["Authorization"] = f"Bearer {token}"

    # -- one-shot reads --
    def _params(self, **extra: Any) -> dict:
        params: dict[str, Any] = {"since": self.position}
        if self.agreement:
            params["agreement"] = self.agreement
        if self.event_types:
            params["types"] = ",".join(self.event_types)
        params.update({k: v for k, v in extra.items() if v is not None})
        return params

    def _get(self, path: str, **params: Any) -> dict:
        response = self._client.get(f"{self.base_url}{path}", params=params)
        if response.status_code != 200:
            raise SubscriberError(response.status_code, _error_text(response))
        return response.json()

    def agreements(self) -> list[dict]:
        """The agreements this token may read."""
        return self._get("/api/v1/agreements")["agreements"]

    def read(self, limit: int | None = None) -> list[SubscribedRecord]:
        """The next page of records after `position` (empty when there is nothing new); advances `position`."""
        return self._take(self._get("/api/v1/records", **self._params(limit=limit)))

    def poll(self, wait: float = 25.0, limit: int | None = None) -> list[SubscribedRecord]:
        """Like `read`, but waits up to `wait` seconds on the server when there is nothing new."""
        return self._take(self._get("/api/v1/records", **self._params(limit=limit, wait=int(wait))))

    def _take(self, page: dict) -> list[SubscribedRecord]:
        records = [SubscribedRecord.from_json(r) for r in page["records"]]
        if records:
            self.position = records[-1].cursor
        return [r for r in records if not self._recent.seen(r.event_id)]

    # -- following --
    def follow(self, *, sse: bool = True, idle_timeout: float | None = None,
               reconnect_delay: float = 1.0) -> Iterator[SubscribedRecord]:
        """Yield records as they are recorded, forever (or until `idle_timeout` seconds pass without one).

        Network errors reconnect after `reconnect_delay` seconds, resuming from `position`; an HTTP
        refusal (401, 403) is raised, since retrying cannot fix it.
        """
        last = time.monotonic()
        while True:
            try:
                source = self._stream(idle_timeout) if sse else self._long_poll(idle_timeout)
                for record in source:
                    last = time.monotonic()
                    yield record
                if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                    return
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                    return
                log.warning("subscriber connection lost (%s); resuming from cursor %s", exc, self.position)
                time.sleep(reconnect_delay)

    def _long_poll(self, idle_timeout: float | None) -> Iterator[SubscribedRecord]:
        started = time.monotonic()
        while True:
            wait = 25.0 if idle_timeout is None else max(1.0, min(25.0, idle_timeout - (time.monotonic() - started)))
            records = self.poll(wait=wait)
            if records:
                started = time.monotonic()
                yield from records
            elif idle_timeout is not None and time.monotonic() - started >= idle_timeout:
                return

    def _stream(self, idle_timeout: float | None) -> Iterator[SubscribedRecord]:
        headers = {"Accept": "text/event-stream", "Last-Event-ID": self.position}
        timeout = httpx.Timeout(30.0, read=idle_timeout) if idle_timeout is not None else httpx.Timeout(30.0, read=90.0)
        try:
            with self._client.stream("GET", f"{self.base_url}/api/v1/stream", params=self._params(),
                                     headers=headers, timeout=timeout) as response:
                if response.status_code != 200:
                    response.read()
                    raise SubscriberError(response.status_code, _error_text(response))
                name, data = None, []
                last = time.monotonic()
                for line in response.iter_lines():
                    if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
                        return  # only keep-alives for idle_timeout seconds
                    if line.startswith("event:"):
                        name = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].lstrip())
                    elif line == "":
                        if name == "record" and data:
                            record = SubscribedRecord.from_json(json.loads("\n".join(data)))
                            self.position = record.cursor
                            if not self._recent.seen(record.event_id):
                                last = time.monotonic()
                                yield record
                        name, data = None, []
        except httpx.ReadTimeout:
            return  # idle for idle_timeout: the caller decides whether to go on

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _error_text(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text)
    except ValueError:
        return response.text[:200]
