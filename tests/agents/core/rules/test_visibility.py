"""One function decides what a holder may see (agents/core/visibility.py): the inbox copy, the
dashboard, the API and the holder's inspection package all show a co-line notice the same way."""
import json
import uuid

import pytest

from agents.core.routing import copy_reference, route
from agents.core.visibility import Viewer, shown_dead_letter, shown_event
from agents.record.export import redact_record
from agents.record.ledger.chain import LedgerRecord
from streams.canonical import canonical_json
from tests.agents.core.rules.support import A_INJ, B_INJ, make

pytestmark = pytest.mark.clause("Art. 8", "Art. 10")

CONFIDENTIAL = {"new_product_holder": "HOLDER-A", "new_product_name": "Ondansetron 4 mg/2 mL (HOLDER-A)",
                "commercial_volume": "120k vials/year", "formulation_details": "citrate buffer, pH 3.8"}


def coline_notice(**envelope):
    return make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": "acceptable",
                                                          "risk_acceptable": True, **CONFIDENTIAL}, **envelope)


def record_of(event):
    return LedgerRecord(1, event["agreement_id"], 1, "event", event["event_id"], event["event_type"],
                        event["agreement_id"], event["item_ref"], None, None, event["published_at"],
                        canonical_json(event), None, None, "0" * 64, "f" * 64)


def test_inbox_dashboard_and_export_show_a_holder_the_same_notice(agreements):
    notice = coline_notice()
    inbox = {d.holder_id: d for d in route(notice, agreements)}
    dashboard = shown_event(notice, Viewer.holder("HOLDER-A"), agreements).body
    exported, removed = redact_record(record_of(notice), "HOLDER-A", agreements)
    # Art. 8: no copy carries the confidential fields, the publishing holder's own included.
    for shown in (inbox["HOLDER-A"].event, inbox["HOLDER-B"].event, dashboard, json.loads(exported.body)):
        assert all(shown["payload"][name] is None for name in CONFIDENTIAL)
    assert json.loads(exported.body)["payload"] == dashboard["payload"] == inbox["HOLDER-A"].event["payload"]
    assert set(removed) >= {f"payload.{name}" for name in CONFIDENTIAL}


def test_a_copy_for_another_holder_names_nothing_of_the_original(agreements):
    notice = coline_notice()
    copy = next(d.event for d in route(notice, agreements) if d.holder_id == "HOLDER-B")
    # Art. 10: B's copy is B's own record: own id, own agreement and product, no person of the publisher,
    # and no id that belongs to A's chain.
    text = canonical_json(copy)
    assert notice["event_id"] not in text and "HOLDER-A" not in text and "QA-HOLDERA" not in text
    assert copy["copy_of_event_id"] == copy_reference(notice["event_id"])
    assert (copy["agreement_id"], copy["product"]["code"]) == (B_INJ["agreement_id"], B_INJ["product"]["code"])
    assert copy["source"]["user"] is None and copy["signature"] is None


def test_the_manufacturer_and_full_access_see_the_record_as_stored(agreements):
    notice = coline_notice()
    for viewer in (Viewer.manufacturer("CMO-X"), Viewer.full()):
        shown = shown_event(notice, viewer, agreements)
        assert shown.body == notice and not shown.redacted


def test_a_holder_never_gets_the_raw_bytes_of_a_refused_message():
    letter = {"dead_letter_id": str(uuid.uuid4()), "reason_code": "RULE_REFUSED", "reason": "no risk conclusion",
              "original_value": b"\x00secret co-line bytes", "original_key": b"k", "event_id": None}
    shown = shown_dead_letter(letter, Viewer.holder("HOLDER-A"))
    assert shown.body["original_value"] is None and shown.body["original_key"] is None
    assert shown.body["reason"] == "no risk conclusion"
    assert shown_dead_letter(letter, Viewer.full()).body == letter
