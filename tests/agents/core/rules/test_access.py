"""Art. 6: a holder's request to access systems, procedures and documents or to inspect facilities
opens a response obligation for the manufacturer; a refusal is flagged."""
import pytest

from agents.core.obligations.model import Kind
from tests.agents.core.rules.support import (A_CAP, T0, days, edited_agreements, findings_of, holder, make, receipt, run,
                                              specs)

pytestmark = pytest.mark.clause("Art. 6")


def request(**envelope):
    return make("holder_audit.access_requested", A_CAP, item_ref="ACC-2026-07", by=holder(),
                payload={"access_to": ["SYSTEMS", "FACILITIES"], "scope": "LIMS audit trail of line LINE-CAP-1"},
                **envelope)


def test_a_request_opens_the_manufacturers_answer_counted_from_receipt(state, agreements):
    received = T0 + days(1)   # the bus received it a day after the publisher says it sent it
    [outcome] = run(state, agreements, request(receipt=receipt(received)))
    [answer] = specs(outcome, "Art. 6")
    assert (answer.kind, answer.responsible_party_role, answer.satisfier_role) == (Kind.PERFORM, "MANUFACTURER",
                                                                                   "MANUFACTURER")
    assert answer.satisfied_by == ("holder_audit.access_granted", "holder_audit.access_refused")
    assert (answer.deadline, answer.starts_from, answer.start_at) == ("5wd", "received_at", received)
    assert answer.due_at.isoformat() == "2026-11-10T15:59:59+00:00"   # 5 working days after Tue 3 Nov
    assert "the management systems, inspection of the facilities" in answer.description
    assert "item_ref ACC-2026-07" in answer.description


def test_the_agreement_sets_how_soon_to_answer(state):
    def quicker(data):
        data["holder_access"]["respond_within"] = "2wd"

    [outcome] = run(state, edited_agreements("QA-HOLDERA-CMOX-001", quicker), request())
    assert specs(outcome, "Art. 6")[0].deadline == "2wd"


def test_a_refusal_is_flagged(state, agreements):
    refused = make("holder_audit.access_refused", A_CAP, item_ref="ACC-2026-07", payload={"note": "LIMS is validated"})
    [outcome] = run(state, agreements, refused)
    [flag] = findings_of(outcome, "Art. 6")
    assert (flag["rule_id"], flag["severity"]) == ("art6.access.refused", "HIGH")
    assert "right to access" in flag["message"]


def test_a_request_the_manufacturer_publishes_opens_nothing(state, agreements):
    [outcome] = run(state, agreements, make("holder_audit.access_requested", A_CAP, item_ref="ACC-9"))
    assert specs(outcome, "Art. 6") == []
    assert [f["rule_id"] for f in findings_of(outcome, "Art. 6")] == ["art6.access.request_not_by_holder"]


def test_a_grant_is_not_flagged(state, agreements):
    [outcome] = run(state, agreements, make("holder_audit.access_granted", A_CAP, item_ref="ACC-2026-07"))
    assert findings_of(outcome, "Art. 6") == [] and specs(outcome, "Art. 6") == []
