"""Art. 10: each holder's inbox gets its own copy only; routing is by agreement, never by generic name."""
import pytest

from agents.core.routing import addressees, fanout_scope, route
from schemas import default_schemas
from streams.topics import TopicCatalogue
from streams.validation import validate_event
from tests.agents.core.rules.support import A_CAP, A_INJ, B_INJ, C_TAB, D_INJ, holder, make

pytestmark = pytest.mark.clause("Art. 10")
CATALOGUE = TopicCatalogue(prefix="qc")


def holders(deliveries):
    return sorted(d.holder_id for d in deliveries)


def test_an_ordinary_event_goes_to_its_own_holders_inbox_only(agreements):
    [delivery] = route(make("deviation.reported", A_INJ, batch_no="2611-03"), agreements, catalogue=CATALOGUE)
    assert (delivery.holder_id, delivery.agreement_id, delivery.topic) == (
        "HOLDER-A", "QA-HOLDERA-CMOX-001", "qc.inbox.HOLDER-A")
    assert delivery.event["batch_no"] == "2611-03" and delivery.why == "own"


def test_the_holder_is_taken_from_the_agreement_not_from_the_envelope(agreements):
    # An envelope naming the wrong holder cannot pull a copy into that holder's inbox.
    event = make("deviation.reported", A_INJ) | {"holder_id": "HOLDER-B"}
    [delivery] = route(event, agreements, catalogue=CATALOGUE)
    assert delivery.holder_id == "HOLDER-A" and delivery.event["holder_id"] == "HOLDER-A"


@pytest.mark.parametrize("event_type, payload, expected", [
    ("coline_change.notified", {"risk_assessment_conclusion": "ok"}, ["HOLDER-A", "HOLDER-B"]),
    ("regulatory_inspection.finding_reported", {"finding_severity": "MAJOR"}, ["HOLDER-A", "HOLDER-B", "HOLDER-C"]),
    ("regulatory_inspection.started", {}, ["HOLDER-A"]),
    ("adverse_credit.recorded", {"subject_party_id": "CMO-X", "subject_role": "MANUFACTURER"},
     ["HOLDER-A", "HOLDER-B", "HOLDER-C"]),
    ("adverse_credit.recorded", {"subject_party_id": "HOLDER-A", "subject_role": "HOLDER"}, ["HOLDER-A"]),
], ids=["coline-line", "inspection-site", "inspection-start-own-only", "credit-cmo-site", "credit-holder-own-only"])
def test_fanout_reaches_the_holders_of_the_line_or_the_site(agreements, event_type, payload, expected):
    event = make(event_type, A_INJ, payload=payload)
    assert holders(route(event, agreements)) == expected


def test_two_holders_of_the_same_generic_name_on_one_line_never_get_each_others_items(agreements):
    # Same CMO, same site, same line, same generic name, two agreements.
    assert A_INJ["product"]["generic_name"] == B_INJ["product"]["generic_name"]
    assert A_INJ["line_id"] == B_INJ["line_id"]
    kinds = [("deviation.reported", {}), ("oos_oot.reported", {}), ("change.proposed", {}),
             ("batch_release.factory_released", {}), ("production.started", {}),
             ("retention_stability.sample_retained", {}), ("pharmacovigilance.request_sent", {})]
    for where, me, other in ((A_INJ, "HOLDER-A", "HOLDER-B"), (B_INJ, "HOLDER-B", "HOLDER-A")):
        for event_type, payload in kinds:
            event = make(event_type, where, payload=payload, batch_no="B-1")
            deliveries = route(event, agreements, catalogue=CATALOGUE)
            assert [(d.holder_id, d.topic) for d in deliveries] == [(me, f"qc.inbox.{me}")], event_type
            assert other not in str(deliveries[0].event)


def test_a_fanout_copy_is_addressed_as_the_receivers_own(agreements):
    event = make("coline_change.notified", A_INJ, batch_no="2611-03", payload={"risk_assessment_conclusion": "ok"})
    copy_b = next(d for d in route(event, agreements) if d.holder_id == "HOLDER-B").event
    assert (copy_b["holder_id"], copy_b["agreement_id"]) == ("HOLDER-B", "QA-HOLDERB-CMOX-001")
    assert copy_b["product"]["code"] == "HB-ONS-2ML"
    assert copy_b["batch_no"] is None                 # Holder A's batch
    assert copy_b["item_ref"] == event["item_ref"]    # feedback quotes it
    validate_event(copy_b, default_schemas())


def test_scope_rules(agreements):
    assert fanout_scope(make("coline_change.notified", A_INJ)) == "line"
    assert fanout_scope(make("coline_change.feedback_given", A_INJ, by=holder())) is None
    assert fanout_scope(make("deviation.reported", A_INJ)) is None
    assert [a.holder_id for a in addressees(make("regulatory_inspection.report_received", C_TAB), agreements)] == [
        "HOLDER-C", "HOLDER-A", "HOLDER-B"]
    assert [a.holder_id for a in addressees(make("regulatory_inspection.report_received", D_INJ), agreements)] == [
        "HOLDER-D"]


def test_an_unknown_agreement_routes_to_the_envelopes_holder_only():
    event = make("deviation.reported", A_CAP)
    [delivery] = route(event, None)
    assert delivery.holder_id == "HOLDER-A"
