"""Demo traffic for `make up`: every example event of schemas/examples, with fresh ids and times."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from schemas import default_schemas
from streams.eventfiles import load_events
from streams.publisher import Publisher


def demo_events(now: datetime | None = None) -> list[dict]:
    now = now or datetime.now(timezone.utc)
    events = []
    for category, path in default_schemas().examples().items():
        for event in load_events(path):
            event = dict(event, event_id=str(uuid.uuid4()))
            event["occurred_at"] = (now - timedelta(hours=2)).isoformat()
            event.pop("published_at", None)
            events.append(event)
    return events


def publish_demo(settings) -> int:
    with Publisher.from_settings(settings) as publisher:
        return len(publisher.publish_many(demo_events()))
