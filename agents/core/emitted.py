"""Events the bus itself emits (obligations, escalations, directives, findings, deliveries).

They carry the same envelope as what systems publish, so the ledger, the dashboard and holders
read them the same way. Their ids are derived from what caused them (uuid5), so replaying the
same input after a restart produces the same events, which the ledger then stores once.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

QBUS_NAMESPACE = uuid.UUID("6f1f2d4e-9a55-4c1e-8d0b-2b7a3c9e5d10")
CONTEXT_FIELDS = ("agreement_id", "holder_id", "manufacturer_id", "site_id", "product",
                  "batch_no", "line_id", "item_ref", "classification")


def derived_id(*parts) -> str:
    return str(uuid.uuid5(QBUS_NAMESPACE, "|".join(str(p) for p in parts)))


def context_of(event: dict) -> dict:
    """The envelope fields a bus event copies from the event that caused it."""
    return {name: event.get(name) for name in CONTEXT_FIELDS}


def bus_event(event_type: str, payload: dict, context: dict, *, event_id: str,
              occurred_at: datetime, now: datetime | None = None, significant_risk: bool = False) -> dict:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": occurred_at,
        "published_at": now or datetime.now(timezone.utc),
        "source": {"system": "QBUS", "instance": "qbus-worker", "party_id": "qbus",
                   "party_role": "BUS", "user": None},
        **{name: context.get(name) for name in CONTEXT_FIELDS},
        "significant_risk": significant_risk,
        "corrects_event_id": None,
        "confidential_fields": [],
        "payload": payload,
        "signature": None,
    }
