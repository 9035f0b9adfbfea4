"""Obligation changes as bus events, and back (the ledger replay that rebuilds the clocks).

The engine's `Change.to_payload()` names are mapped onto schemas/bus/obligation.avsc and
escalation.avsc; `change_from_event` reverses it for `ObligationEngine.restore`.
"""
from __future__ import annotations

from datetime import datetime

from agents.core.emitted import bus_event, derived_id
from agents.core.obligations.engine import Change

# engine name -> schema name, where they differ
_RENAMED = {"responsible_party_role": "responsible_role", "satisfied_by": "expected_event_types",
            "opened_by_event_id": "triggered_by_event_id", "start_at": "basis_at"}
_OBLIGATION_FIELDS = ("obligation_id", "kind", "responsible_role", "responsible_party_id", "description",
                      "due_at", "basis", "basis_at", "calendar_note", "expected_event_types",
                      "satisfied_by_event_id", "triggered_by_event_id", "ladder_step", "rule",
                      "agreement_version", "category", "classification", "state", "deadline",
                      "starts_from", "opened_at", "satisfier_role", "late", "action", "at", "reason", "breach")


def obligation_payload(change: Change) -> dict:
    raw = change.to_payload()
    mapped = {_RENAMED.get(k, k): v for k, v in raw.items()}
    payload = {name: mapped.get(name) for name in _OBLIGATION_FIELDS}
    payload["expected_event_types"] = list(payload["expected_event_types"] or [])
    payload["ladder_step"] = int(payload["ladder_step"] or 0)
    payload["late"] = bool(payload["late"])
    payload["basis"] = payload["basis"] or ""
    payload["rule"] = payload["rule"] or ""
    payload["description"] = payload["description"] or ""
    payload["responsible_party_id"] = payload["responsible_party_id"] or ""
    if payload["agreement_version"] is not None:
        payload["agreement_version"] = int(payload["agreement_version"])
    return payload


def escalation_payload(change: Change) -> dict:
    ob, esc = change.obligation, change.escalation
    if esc is None:
        raise ValueError(f"{change.event_type} of {ob.obligation_id} is not an escalation step")
    names = [r["name"] if isinstance(r, dict) else str(r) for r in esc.recipients]
    return {
        "obligation_id": ob.obligation_id, "step": esc.step, "role": esc.role,
        "recipient": ", ".join(names) or None, "channel": (esc.channel or "UNKNOWN").upper(),
        "page": bool(esc.page), "reason": esc.reason or change.reason or "", "due_at": ob.due_at,
        "of_steps": esc.of_steps, "recipients": names, "category": ob.category,
        "description": ob.description, "responsible_party_id": ob.responsible_party_id or "",
        "kind": ob.kind.value,
    }


def change_events(change: Change, context: dict, now: datetime) -> list[dict]:
    """The obligation.<action> event, plus escalation.raised when a ladder step fired."""
    ob = change.obligation
    context = dict(context, agreement_id=ob.agreement_id, item_ref=ob.item_ref)
    step = change.escalation.step if change.escalation else ob.ladder_step
    events = [bus_event(f"obligation.{change.action}", obligation_payload(change), context,
                        event_id=derived_id("obligation", ob.obligation_id, change.action, step),
                        occurred_at=change.at, now=now)]
    if change.escalation is not None:
        events.append(bus_event("escalation.raised", escalation_payload(change), context,
                                event_id=derived_id("escalation", ob.obligation_id, step),
                                occurred_at=change.at, now=now))
    return events


def change_from_event(event: dict) -> dict:
    """An obligation.* event (as stored in the ledger) as the payload `Change.from_payload` reads."""
    payload = dict(event["payload"])
    back = {v: k for k, v in _RENAMED.items()}
    restored = {back.get(k, k): v for k, v in payload.items()}
    restored.update(agreement_id=event["agreement_id"], item_ref=event["item_ref"])
    restored.setdefault("action", event["event_type"].split(".", 1)[1])
    return restored
