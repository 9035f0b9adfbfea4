"""Signed events (Art. 14): a registered source signs, the bus verifies and says why it refuses."""
import base64
import json
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from streams.canonical import canonical_bytes, parse_timestamp
from streams.signing import (KeyRegistry, generate_keypair, key_fingerprint, load_private_key, load_public_key,
                             private_key_pem, public_key_b64, public_key_pem, sign_event, sources_that_must_sign,
                             verify_event)

AGREEMENT = "QA-HOLDERA-CMOX-001"
SHANGHAI = timezone(timedelta(hours=8))


def make_event(instance="qms-cmox-01", **changes):
    event = {
        "event_id": str(uuid.uuid4()), "event_type": "deviation.reported",
        "occurred_at": datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc),
        "published_at": datetime(2026, 3, 2, 8, 31, tzinfo=timezone.utc),
        "source": {"system": "QMS", "instance": instance, "party_id": "CMOX", "party_role": "MANUFACTURER", "user": None},
        "agreement_id": AGREEMENT, "item_ref": "DEV-2026-0042", "payload": {"title": "温度偏离", "lot": "B1"},
        "signature": None,
    }
    event.update(changes)
    return event


@pytest.fixture
def signer():
    private, public = generate_keypair()
    registry = KeyRegistry()
    registry.register("qms-cmox-01", "k1", public)
    return private, registry


def test_a_signed_event_verifies(signer):
    private, registry = signer
    check = verify_event(sign_event(make_event(), private, "k1"), registry, required_sources={"qms-cmox-01"})
    assert check.ok and check.code == "SIGNED" and check.key_id == "k1"


def test_a_changed_payload_no_longer_matches_the_signature(signer):
    private, registry = signer
    signed = sign_event(make_event(), private, "k1")
    signed["payload"] = {**signed["payload"], "lot": "B2"}
    check = verify_event(signed, registry)
    assert not check.ok
    assert (check.code, check.problem) == ("BAD_SIGNATURE", "mismatch")
    assert check.reason == "signature does not match the event's content (key k1)"


def test_a_signature_survives_transport(signer):
    # Decoded back to datetimes (as Avro does) or kept as canonical text (as the ledger does),
    # the event has the same canonical bytes, so the signature still holds.
    private, registry = signer
    signed = sign_event(make_event(), private, "k1")
    as_text = json.loads(canonical_bytes(signed))
    assert verify_event(as_text, registry).ok
    decoded = {**as_text, "occurred_at": parse_timestamp(as_text["occurred_at"]).astimezone(SHANGHAI)}
    assert verify_event(decoded, registry).ok


def test_missing_signature_from_a_source_that_must_sign(signer):
    _, registry = signer
    check = verify_event(make_event(), registry, required_sources={"qms-cmox-01"})
    assert not check.ok and check.code == "MISSING_SIGNATURE"
    assert check.reason == f"missing signature, source qms-cmox-01 must sign under agreement {AGREEMENT}"


def test_wildcard_makes_every_source_sign(signer):
    _, registry = signer
    assert verify_event(make_event(instance="lims-x"), registry, required_sources={"*"}).code == "MISSING_SIGNATURE"


def test_unsigned_event_from_a_source_that_need_not_sign_passes(signer):
    _, registry = signer
    check = verify_event(make_event(instance="mes-cmox-02"), registry, required_sources={"qms-cmox-01"})
    assert check.ok and check.code == "UNSIGNED"


def test_unknown_key_id(signer):
    private, registry = signer
    check = verify_event(sign_event(make_event(), private, "k9"), registry)
    assert not check.ok and (check.code, check.problem) == ("BAD_SIGNATURE", "unknown_key")
    assert "unknown key id 'k9'" in check.reason


def test_a_key_signs_only_for_the_instance_it_is_registered_to(signer):
    # A LIMS cannot pass its events off as the QMS's by borrowing a key id.
    private, registry = signer
    check = verify_event(sign_event(make_event(instance="lims-cmox-01"), private, "k1"), registry)
    assert (check.code, check.problem) == ("BAD_SIGNATURE", "wrong_source")
    assert "registered to source qms-cmox-01" in check.reason


def test_another_key_under_a_registered_id_is_refused(signer):
    _, registry = signer
    impostor, _ = generate_keypair()
    assert verify_event(sign_event(make_event(), impostor, "k1"), registry).problem == "mismatch"


@pytest.mark.parametrize("signature, problem", [
    ({"key_id": "k1", "algorithm": "rsa-sha256", "value": "AAAA"}, "algorithm"),  # only ed25519
    ({"key_id": "k1", "algorithm": "ed25519", "value": "not base64!"}, "malformed"),
    ({"algorithm": "ed25519", "value": "AAAA"}, "malformed"),                     # no key id
])
def test_malformed_signatures_are_refused_with_a_code(signer, signature, problem):
    _, registry = signer
    check = verify_event(make_event(signature=signature), registry)
    assert (check.code, check.problem) == ("BAD_SIGNATURE", problem)


def test_keys_round_trip_through_pem_and_registry_json(signer):
    private, registry = signer
    again = load_private_key(private_key_pem(private))
    public = load_public_key(public_key_pem(again.public_key()))
    assert key_fingerprint(public) == key_fingerprint(private.public_key())
    restored = KeyRegistry.from_json(registry.to_json())
    assert verify_event(sign_event(make_event(), again, "k1"), restored).ok


def test_one_key_id_cannot_be_registered_twice_with_different_keys(signer):
    _, registry = signer
    _, other = generate_keypair()
    with pytest.raises(ValueError, match="already registered"):
        registry.register("qms-cmox-01", "k1", other)


def test_registry_and_signing_duty_from_an_agreements_sources():
    # Shaped like agents.core.agreements.model.SourceSystem: instance, key_id, public_key (base64), must_sign.
    private, public = generate_keypair()
    sources = [SimpleNamespace(instance="qms-cmox-01", key_id=None, public_key=public_key_b64(public), must_sign=True),
               SimpleNamespace(instance="mes-cmox-01", key_id=None, public_key=None, must_sign=False)]
    registry = KeyRegistry.from_sources(sources)
    required = sources_that_must_sign(sources)
    assert required == {"qms-cmox-01"}
    assert verify_event(sign_event(make_event(), private, key_fingerprint(public)), registry, required).ok
    assert verify_event(make_event(), registry, required).code == "MISSING_SIGNATURE"
    assert verify_event(make_event(instance="mes-cmox-01"), registry, required).code == "UNSIGNED"


def test_the_bus_receipt_and_empty_fields_are_outside_the_signature(signer):
    # A publisher signs; the bus then stamps its receipt, and a newer schema fills an optional field with null.
    private, registry = signer
    signed = sign_event(make_event(), private, "k1")
    received = {**signed, "receipt": {"received_at": datetime.now(timezone.utc), "topic": "qc.intake.deviation",
                                      "partition": 0, "offset": 7},
                "field_of_a_later_schema": None, "payload": {**signed["payload"], "new_list": []}}
    assert verify_event(received, registry).ok
    # Anything with a value is covered.
    assert not verify_event({**received, "item_ref": "DEV-2026-0043"}, registry).ok


def test_signatures_made_before_version_2_still_verify(signer):
    # Version 1 signed everything but the signature, nulls included.
    private, registry = signer
    event = make_event(batch_no=None)
    legacy = canonical_bytes({k: v for k, v in event.items() if k != "signature"})
    old = {**event, "signature": {"key_id": "k1", "algorithm": "ed25519",
                                  "value": base64.b64encode(private.sign(legacy)).decode()}}
    assert verify_event(old, registry).ok


def test_a_decision_is_signed_by_the_persons_own_key():
    from streams.signing import sign_decision, verify_decision

    private, public = generate_keypair()
    people = KeyRegistry()
    people.register("user:wang.fang", "user-k1", public)
    decision = make_event(event_type="change.approved", esignature={
        "signer_name": "王芳 Wang Fang", "signer_user_id": "wang.fang", "signer_party_id": "HOLDER-A",
        "meaning": "APPROVED", "reason": "with the agreed validation", "signed_at": datetime.now(timezone.utc),
        "authentication": "password", "key_id": None, "value": None})
    signed = sign_decision(decision, private, "user-k1")
    assert verify_decision(signed, people).ok
    # Changing what was decided, or who is said to have signed, breaks it.
    rejected = {**signed, "esignature": {**signed["esignature"], "meaning": "REJECTED"}}
    assert verify_decision(rejected, people).problem == "mismatch"
    other = {**signed, "esignature": {**signed["esignature"], "signer_user_id": "li.ming"}}
    assert verify_decision(other, people).problem == "wrong_source"
    assert verify_decision(make_event(), people).code == "MISSING_SIGNATURE"
