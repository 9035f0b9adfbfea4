"""Who may say what under which agreement (Arts. 9, 10, 14), without a broker: every event comes
from a source the agreement registers, speaks for that source's party, and is signed where that is
required. Each spoofing attempt a hostile publisher tried on the landed code is here, refused."""
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from agents.core.admission import Admission
from agents.core.agreements import AgreementSet
from agents.core.agreements.lint import agreement_from_yaml
from agents.core.intake import Refusal
from schemas import default_schemas
from streams.signing import KeyRegistry, generate_keypair, public_key_b64, sign_decision, sign_event
from streams.validation import validate_event
from tests.conftest import ROOT
from tests.support.events import example

pytestmark = pytest.mark.clause("Art. 14")

DEMO = ROOT / "deploy/demo/agreements"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc)
CMO = {"system": "QMS", "instance": "qms-cmox-01", "party_id": "CMO-X", "party_role": "MANUFACTURER", "user": None}
HOLDER_A = {"system": "QMS", "instance": "qms-holdera-01", "party_id": "HOLDER-A", "party_role": "HOLDER", "user": None}


def agreements(edit=None) -> AgreementSet:
    """The two demo agreements (holders A and B at CMO-X); ``edit(data)`` may change A's."""
    loaded = []
    for path in sorted(DEMO.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if edit is not None and data["agreement_id"] == "QA-HOLDERA-CMOX-001":
            edit(data)
        loaded.append(agreement_from_yaml(yaml.safe_dump(data, allow_unicode=True)))
    return AgreementSet(loaded)


def with_key(instance, public, **key):
    def edit(data):
        for source in data["sources"]:
            if source["instance"] == instance:
                source["keys"] = [{"key_id": key.pop("key_id", f"{instance}-k1"), "public_key": public_key_b64(public),
                                   **key}]
    return edit


def admission(agreement_set=None, **kw) -> Admission:
    kw.setdefault("require_signatures", False)
    return Admission(agreement_set or agreements(), clock=lambda: NOW, **kw)


def event(**changes) -> dict:
    base = {"occurred_at": (NOW - timedelta(days=3)).isoformat(), "published_at": NOW.isoformat(), "source": CMO}
    category = changes.get("event_type", "deviation.reported").split(".")[0]
    return validate_event(example(category, **{**base, **changes}), default_schemas())[1]


def refusal(check, evt, received_at=None) -> Refusal:
    with pytest.raises(Refusal) as caught:
        check(evt, received_at)
    return caught.value


def test_an_event_from_a_registered_source_of_its_own_party_passes():
    admission()(event())


def test_an_unknown_agreement_is_refused_without_listing_the_agreements_the_bus_serves():
    found = refusal(admission(), event(agreement_id="QA-NOPE"))
    assert found.reason_code == "UNKNOWN_AGREEMENT" and "'QA-NOPE'" in str(found)
    assert "QA-HOLDERB" not in str(found) and found.operator


@pytest.mark.parametrize("instance", ["qms-cmox-99", "QMS-CMOX-01", " qms-cmox-01", "qms-cmox-01 "])
def test_a_source_must_be_registered_and_named_exactly(instance):
    found = refusal(admission(), event(source={**CMO, "instance": instance}))
    assert found.reason_code == "UNKNOWN_SOURCE" and found.operator
    assert f"'{instance}' is not a source registered in agreement QA-HOLDERA-CMOX-001" in str(found)
    if instance != "qms-cmox-99":
        assert "write 'qms-cmox-01'" in str(found)   # the one spelling, named


@pytest.mark.clause("Art. 10")
def test_another_holders_own_system_cannot_write_into_this_agreement():
    # Holder B's registered QMS publishes an acknowledgement into A's agreement, claiming to be A.
    b_system = {"system": "QMS", "instance": "qms-holderb-01", "party_id": "HOLDER-A", "party_role": "HOLDER"}
    found = refusal(admission(), event(event_type="deviation.acknowledged", source=b_system))
    assert found.reason_code == "UNKNOWN_SOURCE" and found.operator


@pytest.mark.clause("Art. 10")
@pytest.mark.parametrize("source", [
    {**CMO, "party_id": "HOLDER-A", "party_role": "HOLDER"},        # the CMO's system speaking for the holder
    {**HOLDER_A, "party_role": "MANUFACTURER"},                      # the holder's system in the wrong role
    {**CMO, "party_id": "CMO-Y"},                                    # another manufacturer's name
])
def test_a_source_speaks_only_for_its_own_party_in_its_own_role(source):
    found = refusal(admission(), event(source=source))
    assert found.reason_code == "SOURCE_PARTY_MISMATCH" and found.operator


def test_nobody_may_publish_as_the_bus():
    bus = {"system": "QBUS", "instance": "qbus-worker", "party_id": "qbus", "party_role": "BUS"}
    found = refusal(admission(), event(source=bus))
    assert found.reason_code == "UNKNOWN_SOURCE" and "bus's own records" in str(found)


@pytest.mark.clause("Art. 9")
@pytest.mark.parametrize("instance", ["qbus-dashboard", "qbus-dashboard ", "QBUS-DASHBOARD", "dashboard-2"])
def test_a_forged_dashboard_approval_is_refused_even_in_the_demo(instance):
    # An unsigned change.approved claiming the dashboard and the name of A's head of quality.
    forged = {"system": "DASHBOARD", "instance": instance, "party_id": "HOLDER-A", "party_role": "HOLDER",
              "user": "王芳 Wang Fang (head of quality)"}
    found = refusal(admission(require_signatures=False), event(event_type="change.approved", source=forged))
    assert found.operator and found.reason_code in ("MISSING_SIGNATURE", "BAD_SIGNATURE", "UNKNOWN_SOURCE")


@pytest.fixture
def dashboard(tmp_path):
    """The dashboard's key file (trusted by the bus) and one user's key (signs their decisions)."""
    from agents.web.dashboard.actions import DashboardSigner

    signer = DashboardSigner(tmp_path / "dashboard.key")
    keys = signer.write_public_key(tmp_path / "dashboard-keys.json")
    user_private, user_public = generate_keypair()
    people = KeyRegistry()
    people.register("user:wang.fang", "wang.fang-k1", user_public)
    (tmp_path / "users.json").write_text(people.to_json())
    check = admission(dashboard_keys=keys, user_keys=tmp_path / "users.json")
    return signer, user_private, check


HOLDER_QA = {"system": "DASHBOARD", "instance": "qbus-dashboard", "party_id": "HOLDER-A", "party_role": "HOLDER",
             "user": "王芳 Wang Fang"}


def test_the_dashboards_signed_acknowledgement_is_accepted(dashboard):
    signer, _, check = dashboard
    check(signer(event(event_type="deviation.acknowledged", source=HOLDER_QA)))
    # Without the dashboard's key file the same signature names an unknown key.
    assert refusal(admission(), signer(event(event_type="deviation.acknowledged", source=HOLDER_QA))).operator


@pytest.mark.clause("Art. 9")
def test_a_dashboard_decision_needs_the_persons_own_electronic_signature(dashboard):
    signer, user_private, check = dashboard
    approval = event(event_type="change.approved", source=HOLDER_QA)
    found = refusal(check, signer(approval))
    assert found.reason_code == "MISSING_SIGNATURE" and "electronic signature" in str(found)
    approval["esignature"] = {"signer_name": "王芳 Wang Fang", "signer_user_id": "wang.fang",
                              "signer_party_id": "HOLDER-A", "meaning": "APPROVED", "reason": None, "signed_at": NOW,
                              "authentication": "password", "key_id": None, "value": None}
    check(signer(sign_decision(approval, user_private, "wang.fang-k1")))
    # Someone else's key, or a signature over another meaning, does not do.
    other_private, _ = generate_keypair()
    assert refusal(check, signer(sign_decision(approval, other_private, "wang.fang-k1"))).reason_code == "BAD_SIGNATURE"


def test_with_signatures_required_every_source_signs_with_its_registered_key():
    private, public = generate_keypair()
    check = admission(agreements(with_key("qms-cmox-01", public)), require_signatures=True)
    unsigned = event()
    found = refusal(check, unsigned)
    assert found.reason_code == "MISSING_SIGNATURE" and "qms-cmox-01" in str(found)
    check(sign_event(unsigned, private, "qms-cmox-01-k1"))
    # A source with no key at all cannot publish at all.
    assert refusal(check, event(source=HOLDER_A)).reason_code == "MISSING_SIGNATURE"
    # The key of another source does not sign for this one.
    holder_private, holder_public = generate_keypair()
    both = agreements(lambda d: (with_key("qms-cmox-01", public)(d), with_key("qms-holdera-01", holder_public)(d)))
    assert refusal(admission(both, require_signatures=True),
                   sign_event(unsigned, holder_private, "qms-holdera-01-k1")).reason_code == "BAD_SIGNATURE"


def test_a_must_sign_source_signs_even_in_the_demo():
    private, public = generate_keypair()

    def edit(data):
        with_key("qms-cmox-01", public)(data)
        next(s for s in data["sources"] if s["instance"] == "qms-cmox-01")["must_sign"] = True
    check = admission(agreements(edit), require_signatures=False)
    assert refusal(check, event()).reason_code == "MISSING_SIGNATURE"
    signed = sign_event(event(), private, "qms-cmox-01-k1")
    check(signed)
    signed["payload"] = dict(signed["payload"], description="edited after signing")
    assert refusal(check, signed).reason_code == "BAD_SIGNATURE"


def test_keys_rotate_by_their_validity_dates_and_old_events_still_verify():
    old_private, old_public = generate_keypair()
    new_private, new_public = generate_keypair()
    rotation = NOW - timedelta(days=1)

    def edit(data):
        source = next(s for s in data["sources"] if s["instance"] == "qms-cmox-01")
        source["keys"] = [
            {"key_id": "k-2025", "public_key": public_key_b64(old_public), "valid_until": rotation.isoformat()},
            {"key_id": "k-2026", "public_key": public_key_b64(new_public), "valid_from": rotation.isoformat()}]
    check = admission(agreements(edit), require_signatures=True)
    old = sign_event(event(), old_private, "k-2025")
    check(old, rotation - timedelta(hours=1))                   # received while the old key was valid
    found = refusal(check, old, NOW)                            # the old key used after the rotation
    assert found.reason_code == "BAD_SIGNATURE" and "not valid when the bus received" in str(found)
    check(sign_event(event(), new_private, "k-2026"), NOW)


@pytest.mark.clause("Art. 10")
def test_an_event_naming_another_holder_is_refused_without_naming_it():
    found = refusal(admission(), event(holder_id="HOLDER-B"))
    assert found.reason_code == "OUT_OF_TENANT" and "HOLDER-B" not in str(found) and not found.operator


@pytest.mark.clause("Art. 10")
def test_a_product_outside_the_agreement_is_refused_without_echoing_it():
    evt = event()
    evt["product"] = dict(evt["product"], code="HB-AMX-250")     # holder B's amoxicillin
    found = refusal(admission(), evt)
    assert found.reason_code == "OUT_OF_TENANT" and "HB-AMX-250" not in str(found)


def test_an_event_that_happened_in_the_future_is_refused():
    found = refusal(admission(), event(occurred_at=(NOW + timedelta(hours=2)).isoformat()))
    assert found.reason_code == "FUTURE_EVENT" and "clock" in str(found)
    admission()(event(occurred_at=(NOW + timedelta(minutes=2)).isoformat()))   # within the skew allowance
