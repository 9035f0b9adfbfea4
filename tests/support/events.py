"""Build test events from the committed examples, with fresh ids so tests never collide."""
from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime, timedelta, timezone

from schemas import default_schemas


def example(category: str, **changes) -> dict:
    """The committed example of a category, with a new event_id and item_ref unless given."""
    path = default_schemas().examples()[category]
    event = json.loads(path.read_text(encoding="utf-8"))
    event = copy.deepcopy(event)
    event["event_id"] = str(uuid.uuid4())
    event["item_ref"] = f"{event['item_ref']}-{uuid.uuid4().hex[:8]}"
    event["published_at"] = datetime.now(timezone.utc).isoformat()
    event.update(changes)
    return event


def at(minutes_ago: float = 0) -> str:
    return (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()
