"""Ask the bus over HTTP what became of an event: recorded, dead-lettered (with the reason) or unknown.

    from streams.http_status import EventStatusClient

    with EventStatusClient("http://127.0.0.1:8080/", token) as bus:
        bus.status(event_id)        # {"event_id": ..., "status": "recorded", "ledger": {...}}
        publisher.reconcile_status(bus.status)   # the SDK's outbox, reconciled over HTTP

``GET /api/v1/events/{event_id}`` answers for events of the token's own agreements only; another
party's event is "unknown", exactly like one the bus never saw.
"""
from __future__ import annotations

from typing import Any

import httpx


class StatusError(RuntimeError):
    """The server refused the question (a bad token) or could not be reached."""


class EventStatusClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0, client: httpx.Client | None = None):
        self.base_url = base_url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def status(self, event_id: str) -> dict[str, Any]:
        try:
            response = self._client.get(f"{self.base_url}/api/v1/events/{event_id}", headers=self._headers)
        except httpx.HTTPError as exc:
            raise StatusError(f"the bus at {self.base_url} could not be reached: {exc}") from exc
        if response.status_code != 200:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text[:200]
            raise StatusError(f"HTTP {response.status_code} from {self.base_url}: {message}")
        return response.json()

    def is_recorded(self, event_id: str) -> bool:
        return self.status(event_id).get("status") == "recorded"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EventStatusClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
