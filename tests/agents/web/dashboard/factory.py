"""Events for dashboard tests: two holders, one manufacturer, the same generic name (Art. 10).

Built from the committed examples (schemas/examples), so what the dashboard answers with is what
the publisher SDK accepts. Bus records (obligations, escalations) follow schemas/bus/.
"""
from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

from schemas import default_schemas

A = "QA-HOLDERA-CMOX-001"
B = "QA-HOLDERB-CMOX-001"
AGREEMENTS = {
    A: {"holder_id": "HOLDER-A", "manufacturer_id": "CMO-X", "site_id": "SITE-SZ-01",
        "product": {"code": "HA-AMX-500", "generic_name": "amoxicillin", "dosage_form": "capsule", "sterile": False}},
    B: {"holder_id": "HOLDER-B", "manufacturer_id": "CMO-X", "site_id": "SITE-SZ-01",
        "product": {"code": "HB-AMX-250", "generic_name": "amoxicillin", "dosage_form": "capsule", "sterile": False}},
}
SOURCES = {
    "MANUFACTURER": {"system": "QMS", "instance": "qms-cmox-01", "party_id": "CMO-X", "party_role": "MANUFACTURER",
                     "user": "li.wei@cmo-x.example"},
    "BUS": {"system": "QBUS", "instance": "qbus-worker", "party_id": "QBUS", "party_role": "BUS", "user": None},
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now() -> datetime:
    return datetime.now(UTC)


def _example(category: str) -> dict:
    path = default_schemas().examples()[category]
    event = json.loads(path.read_text(encoding="utf-8"))
    return copy.deepcopy(event[0] if isinstance(event, list) else event)


def event(category: str, action: str, agreement: str = A, item_ref: str | None = None, *, by: str = "MANUFACTURER",
          at: datetime | None = None, classification: str | None = "MAJOR", batch_no: str | None = None,
          payload: dict | None = None, user: str | None = None) -> dict:
    """A quality event of `agreement`, published by the manufacturer (or the holder: by='HOLDER')."""
    at = at or now()
    base = _example(category)
    parties = AGREEMENTS[agreement]
    if by == "HOLDER":
        source = {"system": "QMS", "instance": f"qms-{parties['holder_id'].lower()}-01", "party_id": parties["holder_id"],
                  "party_role": "HOLDER", "user": user or f"qa@{parties['holder_id'].lower()}.example"}
    else:
        source = dict(SOURCES["MANUFACTURER"], user=user or SOURCES["MANUFACTURER"]["user"])
    base.update(
        event_id=str(uuid.uuid4()), event_type=f"{category}.{action}", occurred_at=iso(at), published_at=iso(at),
        source=source, agreement_id=agreement, holder_id=parties["holder_id"],
        manufacturer_id=parties["manufacturer_id"], site_id=parties["site_id"], product=dict(parties["product"]),
        item_ref=item_ref or f"{category[:3].upper()}-{uuid.uuid4().hex[:6]}", classification=classification,
        batch_no=batch_no if batch_no is not None else base.get("batch_no"), signature=None)
    for key in ("decision_reason", "responds_to_event_id", "note"):
        if key in base["payload"]:
            base["payload"][key] = None
    if payload:
        base["payload"].update(payload)
    return base


def obligation(action: str, about: dict, *, kind: str = "ACKNOWLEDGE", due_at: datetime, responsible: str = "HOLDER",
               obligation_id: str | None = None, ladder_step: int = 0, at: datetime | None = None,
               description: str | None = None) -> dict:
    """An ``obligation.<action>`` record of the bus about the item of event `about`."""
    at = at or now()
    parties = AGREEMENTS[about["agreement_id"]]
    responsible_id = parties["holder_id"] if responsible == "HOLDER" else parties["manufacturer_id"]
    return _bus(f"obligation.{action}", about, at, {
        "obligation_id": obligation_id or f"OB-{about['item_ref']}-{kind}",
        "kind": kind, "responsible_role": responsible, "responsible_party_id": responsible_id,
        "description": description or f"{responsible_id} must {kind.lower()} {about['item_ref']}",
        "due_at": iso(due_at), "basis": "published_at + 1 working day", "basis_at": about["published_at"],
        "calendar_note": None, "expected_event_types": [f"{about['event_type'].split('.')[0]}.acknowledged"],
        "satisfied_by_event_id": None, "triggered_by_event_id": about["event_id"], "ladder_step": ladder_step,
        "rule": "art7.acknowledge",
    })


def escalation(about: dict, obligation_id: str, *, step: int = 1, role: str = "holder.head_of_quality",
               channel: str = "EMAIL", page: bool = False, due_at: datetime, at: datetime | None = None) -> dict:
    return _bus("escalation.raised", about, at or now(), {
        "obligation_id": obligation_id, "step": step, "role": role, "recipient": "王芳 Wang Fang",
        "channel": channel, "page": page, "reason": f"{about['item_ref']} not acknowledged in time", "due_at": iso(due_at),
    })


def _bus(event_type: str, about: dict, at: datetime, payload: dict) -> dict:
    return {
        "event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
        "occurred_at": iso(at), "published_at": iso(at), "source": dict(SOURCES["BUS"]),
        "agreement_id": about["agreement_id"], "holder_id": about["holder_id"],
        "manufacturer_id": about["manufacturer_id"], "site_id": about["site_id"], "product": about["product"],
        "batch_no": about.get("batch_no"), "line_id": about.get("line_id"), "item_ref": about["item_ref"],
        "classification": None, "significant_risk": False, "corrects_event_id": None, "confidential_fields": [],
        "signature": None, "payload": payload,
    }


def dead_letter(event_id: str, agreement: str, reason: str = "schema violation: payload.x is missing") -> dict:
    return {"dead_letter_id": str(uuid.uuid4()), "reason_code": "SCHEMA_VIOLATION", "reason": reason,
            "original_topic": "qc.intake.change", "original_partition": 0, "original_offset": 7,
            "original_key": None, "original_value": None, "schema_id": None, "event_id": event_id,
            "agreement_id": agreement, "received_at": iso(now())}


def later(hours: float) -> datetime:
    return now() + timedelta(hours=hours)


def agreements():
    """The two agreements as files would give them (from the shipped template): names, titles, products."""
    from agents.core.agreements import DEFAULT_TEMPLATE, AgreementSet
    from agents.core.agreements.lint import agreement_from_yaml

    template = DEFAULT_TEMPLATE.read_text(encoding="utf-8")

    def make(agreement_id, holder, name, local, code):
        text = (template.replace("QA-HOLDER-CMO-001", agreement_id).replace("HOLDER-EXAMPLE", holder)
                .replace("CMO-EXAMPLE", "CMO-X").replace("Example Pharma Co., Ltd.", name)
                .replace("示例制药有限公司", local).replace("EX-INJ-10", code)
                .replace("Exampleamide Injection", "amoxicillin")
                .replace("Example CDMO Co., Ltd.", "CMO X Biopharma Co., Ltd.").replace("示例合同生产有限公司", "X生物制药有限公司")
                .replace("title: Quality agreement for entrusted manufacturing of Example Injection",
                         f"title: Quality agreement {holder} / CMO-X — amoxicillin"))
        return agreement_from_yaml(text)
    return AgreementSet([make(A, "HOLDER-A", "Holder A Pharma Co., Ltd.", "甲制药有限公司", "HA-AMX-500"),
                         make(B, "HOLDER-B", "Holder B Pharma Co., Ltd.", "乙制药有限公司", "HB-AMX-250")])
