"""Who may publish what under which agreement (Arts. 10, 14), without a broker."""
import pytest
import yaml

from agents.core.admission import Admission
from agents.core.agreements import AgreementSet
from agents.core.agreements.lint import agreement_from_yaml
from agents.core.intake import Refusal
from schemas import default_schemas
from streams.signing import generate_keypair, public_key_b64, sign_event
from streams.validation import validate_event
from tests.conftest import ROOT
from tests.support.events import example

DEMO = ROOT / "deploy/demo/agreements/QA-HOLDERA-CMOX-001.yaml"


def agreement_set(must_sign_key=None) -> AgreementSet:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    if must_sign_key is not None:
        for source in data["sources"]:
            if source["instance"] == "qms-cmox-01":
                source.update(must_sign=True, key_id="qms-cmox-01-k1", public_key=must_sign_key)
    return AgreementSet([agreement_from_yaml(yaml.safe_dump(data, allow_unicode=True))])


def event(**changes) -> dict:
    return validate_event(example("deviation", **changes), default_schemas())[1]


def refusal(admission, evt) -> Refusal:
    with pytest.raises(Refusal) as caught:
        admission(evt)
    return caught.value


def test_an_event_of_the_agreements_own_parties_passes():
    Admission(agreement_set())(event())


def test_unknown_agreement_is_named():
    found = refusal(Admission(agreement_set()), event(agreement_id="QA-NOPE"))
    assert found.reason_code == "UNKNOWN_AGREEMENT" and "'QA-NOPE'" in str(found)
    assert "QA-HOLDERA-CMOX-001" in str(found)  # says which agreements are known


@pytest.mark.clause("Art. 10")
def test_an_event_naming_another_holder_is_out_of_tenant():
    found = refusal(Admission(agreement_set()), event(holder_id="HOLDER-B"))
    assert found.reason_code == "OUT_OF_TENANT" and "HOLDER-B" in str(found)


@pytest.mark.clause("Art. 10")
def test_a_third_party_cannot_publish_under_the_agreement():
    outsider = {"system": "QMS", "instance": "qms-other", "party_id": "CMO-Y", "party_role": "MANUFACTURER"}
    found = refusal(Admission(agreement_set()), event(source=outsider))
    assert found.reason_code == "OUT_OF_TENANT" and "CMO-Y is not a party" in str(found)


def test_a_product_outside_the_agreement_is_refused():
    evt = event()
    evt["product"] = dict(evt["product"], code="HB-AMX-250")  # holder B's amoxicillin
    assert refusal(Admission(agreement_set()), evt).reason_code == "OUT_OF_TENANT"


@pytest.mark.clause("Art. 14")
def test_a_source_that_must_sign_is_refused_unsigned_and_accepted_signed():
    private, public = generate_keypair()
    admission = Admission(agreement_set(must_sign_key=public_key_b64(public)))
    unsigned = event()
    found = refusal(admission, unsigned)
    assert found.reason_code == "MISSING_SIGNATURE" and "qms-cmox-01" in str(found)
    admission(sign_event(unsigned, private, "qms-cmox-01-k1"))


@pytest.mark.clause("Art. 14")
def test_a_tampered_signed_event_is_refused():
    private, public = generate_keypair()
    admission = Admission(agreement_set(must_sign_key=public_key_b64(public)))
    signed = sign_event(event(), private, "qms-cmox-01-k1")
    signed["payload"] = dict(signed["payload"], description="edited after signing")
    assert refusal(admission, signed).reason_code == "BAD_SIGNATURE"


@pytest.mark.clause("Art. 14")
def test_the_dashboards_signed_actions_are_trusted_through_its_key_file(tmp_path):
    """The dashboard signs what its users do with its own key; the bus trusts that key file."""
    from agents.web.dashboard.actions import DashboardSigner

    signer = DashboardSigner(tmp_path / "dashboard.key")
    keys = signer.write_public_key(tmp_path / "dashboard-keys.json")
    holder_qa = {"system": "DASHBOARD", "instance": "qbus-dashboard", "party_id": "HOLDER-A",
                 "party_role": "HOLDER", "user": "张敏 Zhang Min <qa.a>"}
    ack = signer(event(event_type="deviation.acknowledged", source=holder_qa))
    with pytest.raises(Refusal) as caught:
        Admission(agreement_set())(ack)          # without the key file: an unknown key
    assert caught.value.reason_code == "BAD_SIGNATURE"
    Admission(agreement_set(), trusted_keys=keys)(ack)
