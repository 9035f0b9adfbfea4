"""Build events for the rule tests: the committed example of a category, re-addressed to one of
the test agreements, with a minimal payload (optional fields empty) plus what the test sets."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from agents.core.agreements import AgreementSet
from agents.core.agreements.lint import agreement_from_yaml
from agents.core.rules import RuleState, evaluate
from agents.core.rules.outcome import Outcome
from schemas import default_schemas
from streams.validation import validate_event
from tests.support.events import example

AGREEMENTS_DIR = Path(__file__).parent / "fixtures" / "agreements"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)   # Monday 2 Nov 2026, 09:00 in Shanghai

A_CAP = {"agreement_id": "QA-HOLDERA-CMOX-001", "holder_id": "HOLDER-A", "manufacturer_id": "CMO-X",
         "site_id": "SITE-SZ-01", "line_id": "LINE-CAP-1",
         "product": {"code": "HA-AMX-500", "generic_name": "amoxicillin", "dosage_form": "capsule", "sterile": False}}
A_INJ = {"agreement_id": "QA-HOLDERA-CMOX-001", "holder_id": "HOLDER-A", "manufacturer_id": "CMO-X",
         "site_id": "SITE-SZ-01", "line_id": "LINE-INJ-2",
         "product": {"code": "HA-ONS-2ML", "generic_name": "ondansetron hydrochloride", "dosage_form": "injection",
                     "sterile": True}}
B_INJ = {"agreement_id": "QA-HOLDERB-CMOX-001", "holder_id": "HOLDER-B", "manufacturer_id": "CMO-X",
         "site_id": "SITE-SZ-01", "line_id": "LINE-INJ-2",
         "product": {"code": "HB-ONS-2ML", "generic_name": "ondansetron hydrochloride", "dosage_form": "injection",
                     "sterile": True}}
C_TAB = {"agreement_id": "QA-HOLDERC-CMOX-001", "holder_id": "HOLDER-C", "manufacturer_id": "CMO-X",
         "site_id": "SITE-SZ-01", "line_id": "LINE-TAB-3",
         "product": {"code": "HC-MET-500", "generic_name": "metformin hydrochloride", "dosage_form": "tablet",
                     "sterile": False}}
C_TAB_Y = {"agreement_id": "QA-HOLDERC-CMOY-001", "holder_id": "HOLDER-C", "manufacturer_id": "CMO-Y",
           "site_id": "SITE-WX-01", "line_id": "LINE-TAB-1",
           "product": {"code": "HC-MET-500", "generic_name": "Metformin Hydrochloride", "dosage_form": "Tablet",
                       "sterile": False}}
D_INJ = {"agreement_id": "QA-HOLDERD-CMOY-001", "holder_id": "HOLDER-D", "manufacturer_id": "CMO-Y",
         "site_id": "SITE-HZ-02", "line_id": "LINE-INJ-2",
         "product": {"code": "HD-ONS-2ML", "generic_name": "ondansetron hydrochloride", "dosage_form": "injection",
                     "sterile": True}}

CMO = {"system": "QMS", "instance": "qms-cmox-01", "party_id": "CMO-X", "party_role": "MANUFACTURER",
       "user": "qa@cmo-x.example"}
CMO_Y = {"system": "QMS", "instance": "qms-cmoy-01", "party_id": "CMO-Y", "party_role": "MANUFACTURER",
         "user": "qa@cmo-y.example"}


def holder(holder_id: str = "HOLDER-A") -> dict:
    return {"system": "QMS", "instance": f"qms-{holder_id.lower()}-01", "party_id": holder_id,
            "party_role": "HOLDER", "user": f"qa@{holder_id.lower()}.example"}


def _minimal_payload(category: str, payload: dict) -> dict:
    """The example payload with every optional field emptied."""
    record = default_schemas().categories[category].payload
    out = dict(payload)
    for field in record["fields"]:
        kind = field["type"]
        if isinstance(kind, list) and "null" in kind:
            out[field["name"]] = None
        elif isinstance(kind, dict) and kind.get("type") == "array":
            out[field["name"]] = []
    return out


def make(event_type: str, where: dict = A_CAP, *, at: datetime = T0, by: dict | None = None,
         payload: dict | None = None, **envelope) -> dict:
    """A validated (normalized) event of ``event_type`` under the agreement of ``where``."""
    category = event_type.split(".", 1)[0]
    event = example(category)
    event.update({k: (dict(v) if isinstance(v, dict) else v) for k, v in where.items()})
    event.update(event_type=event_type, occurred_at=at.isoformat(),
                 published_at=(at + timedelta(minutes=1)).isoformat(), source=dict(by or CMO),
                 classification=None, significant_risk=False, batch_no=None, confidential_fields=[],
                 signature=None, corrects_event_id=None)
    event["payload"] = {**_minimal_payload(category, event["payload"]), **(payload or {})}
    event.update(envelope)
    return validate_event(event, default_schemas())[1]


def run(state: RuleState, agreements, *events: dict, now: datetime | None = None) -> list[Outcome]:
    """Evaluate events in order; the outcome of each."""
    return [evaluate(state, e, agreements, now or T0) for e in events]


def rule_ids(outcome: Outcome) -> list[str]:
    return [f.payload["rule_id"] for f in outcome.findings]


def days(n: float) -> timedelta:
    return timedelta(days=n)


def specs(outcome: Outcome, rule: str) -> list:
    """The obligation specs of one article (e.g. 'Art. 8'), leaving out the calendar ones others open."""
    return [s for s in outcome.obligations if s.rule == rule]


def findings_of(outcome: Outcome, article: str) -> list[dict]:
    """The payloads of the findings one article's rules raised (other articles may speak too)."""
    return [f.payload for f in outcome.findings if f.payload["article"] == article]


def receipt(at: datetime) -> dict:
    """The bus's receipt of an event, as intake sets it."""
    return {"received_at": at.isoformat(), "topic": "qc.intake.test", "partition": 0, "offset": 1}


def edited_agreements(agreement_id: str, edit) -> AgreementSet:
    """The test agreements, with the one of ``agreement_id`` changed by ``edit(data)`` on its YAML."""
    loaded = []
    for path in sorted(AGREEMENTS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if data["agreement_id"] == agreement_id:
            edit(data)
        loaded.append(agreement_from_yaml(yaml.safe_dump(data, allow_unicode=True), path.name))
    return AgreementSet(loaded)
