"""Redaction: confidential fields and other holders' identifiers never leave in a holder's copy."""
import pytest

from agents.core.redaction import confidential_paths, other_holder_identifiers, remove_paths
from agents.core.visibility import Viewer, shown_event
from schemas import default_schemas
from streams.validation import validate_event
from tests.agents.core.rules.support import A_CAP, A_INJ, make

pytestmark = pytest.mark.clause("Art. 8", "Art. 10")


def test_confidential_paths_are_the_schema_marks_plus_the_events_own_payload_fields():
    event = make("coline_change.notified", A_INJ, confidential_fields=["payload.description", "line_id", "product.code"])
    assert confidential_paths(event) == {
        "payload.new_product_holder", "payload.new_product_name", "payload.new_product_code",
        "payload.commercial_volume", "payload.formulation_details", "payload.description"}


def test_removed_fields_get_their_empty_value_and_the_copy_still_validates():
    event = make("coline_change.notified", A_INJ, payload={"risk_assessment_conclusion": "ok",
                                                           "control_measures": ["a", "b"],
                                                           "new_product_name": "secret"})
    copy = dict(event, payload=dict(event["payload"]))
    removed = remove_paths(copy, ["payload.new_product_name", "payload.control_measures", "payload.change_kind",
                                  "payload.not_there"])
    # Only values that were there are listed as removed (a field that is not there is not).
    assert removed == ["payload.change_kind", "payload.control_measures", "payload.new_product_name"]
    assert copy["payload"]["new_product_name"] is None          # optional: null
    assert copy["payload"]["control_measures"] == []            # array with default: its default
    assert copy["payload"]["change_kind"] == "UNKNOWN"          # enum with default
    validate_event(copy, default_schemas())


def test_other_holders_identifiers_exclude_the_addressees_own(agreements):
    for_a = other_holder_identifiers(agreements, "HOLDER-A")
    assert {"HOLDER-B", "QA-HOLDERB-CMOX-001", "HB-ONS-2ML", "Beta Pharmaceuticals Ltd.", "乙药业有限公司",
            "HOLDER-C", "HOLDER-D"} <= for_a
    assert not {"HOLDER-A", "QA-HOLDERA-CMOX-001", "HA-ONS-2ML", "HA-AMX-500"} & for_a


def test_any_payload_text_naming_another_holder_is_removed(agreements):
    event = make("deviation.reported", A_CAP, payload={
        "description": "Found during the changeover from HB-ONS-2ML on the shared area",
        "process_step": "capsule filling", "affected_batches": ["2611-07", "HOLDER-B-LOT-3"],
        "note": "Beta Pharmaceuticals Ltd. informed separately"})
    shown = shown_event(event, Viewer.holder("HOLDER-A"), agreements)
    copy, removed = shown.body, shown.removed
    assert copy["payload"]["description"] is None and copy["payload"]["note"] is None
    assert copy["payload"]["affected_batches"] == ["2611-07"]
    assert copy["payload"]["process_step"] == "capsule filling"
    assert set(removed) == {"payload.description", "payload.note", "payload.affected_batches"}
    assert copy["signature"] is None
    validate_event(copy, default_schemas())


def test_an_untouched_own_copy_keeps_its_signature(agreements):
    event = make("deviation.reported", A_CAP, signature={"key_id": "k1", "algorithm": "ed25519", "value": "c2ln"})
    shown = shown_event(event, Viewer.holder("HOLDER-A"), agreements)
    assert shown.removed == () and shown.body == event and shown.body is not event
