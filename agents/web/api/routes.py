"""The routes of the HTTP API that live beside the dashboard's subscriber API (`agents.web.dashboard.api`)."""
from __future__ import annotations

from aiohttp import web

from agents.web.api.ingest import GATEWAY, Gateway, post_events
from agents.web.api.openapi import openapi_view
from agents.web.api.status import event_status

API_PREFIX = "/api/v1"


def setup_http_api(app: web.Application, gateway: Gateway | None) -> None:
    """Ingest, event status and the OpenAPI document; without a gateway, POST answers 503."""
    if gateway is not None:
        app[GATEWAY] = gateway
    app.router.add_post(f"{API_PREFIX}/events", post_events)
    app.router.add_get(f"{API_PREFIX}/events/{{event_id}}", event_status)
    app.router.add_get(f"{API_PREFIX}/openapi.json", openapi_view)
