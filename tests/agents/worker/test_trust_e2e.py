"""A hostile publisher against the real broker and worker, signatures required (Arts. 9, 10, 14).

Every spoofing variant tried on the landed code is dead-lettered with its reason, kept in the
operator's chain when its sender is not a party of the agreement it names, and never reaches the
holder's records, inbox or package; a correctly signed event from the registered source is
accepted. The worker runs as in production: QBUS_REQUIRE_SIGNATURES on.
"""
import uuid

import pytest
import yaml

from agents.cli.local import WorkerProcess
from agents.record.ledger import open_ledger
from agents.record.ledger.chain import NO_AGREEMENT_CHAIN
from streams.publisher import Publisher
from streams.signing import generate_keypair, public_key_b64, sign_event
from tests.conftest import ROOT
from tests.support.events import example

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.clause("Art. 14")]
A = "QA-HOLDERA-CMOX-001"
CMO = {"system": "QMS", "instance": "qms-cmox-01", "party_id": "CMO-X", "party_role": "MANUFACTURER", "user": None}


@pytest.fixture(scope="module")
def trusted_bus(bus_settings, tmp_path_factory):
    """Its own topics, group and ledger; the demo agreements with a key for the CMO's QMS."""
    from streams.admin import admin_client, create_topics
    from streams.broker import free_port
    from streams.topics import TopicCatalogue

    base = tmp_path_factory.mktemp("trust")
    private, public = generate_keypair()
    folder = base / "agreements"
    folder.mkdir()
    for path in (ROOT / "deploy/demo/agreements").glob("*.yaml"):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for source in data["sources"]:
            if source["instance"] == "qms-cmox-01":
                source["keys"] = [{"key_id": "qms-cmox-01-k1", "public_key": public_key_b64(public)}]
        (folder / path.name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    prefix = f"trust{uuid.uuid4().hex[:6]}"
    settings = bus_settings.model_copy(update={
        "topic_prefix": prefix, "app_id": f"qbus-{prefix}", "state_dir": base / "state", "agreements_dir": folder,
        "worker_web_port": free_port(), "metrics_port": free_port(), "require_signatures": True})
    catalogue = TopicCatalogue.from_settings(settings)
    admin = admin_client(settings)
    try:
        create_topics(admin, catalogue.specs(("HOLDER-A", "HOLDER-B")))
    finally:
        admin.close()
    worker = WorkerProcess(settings, base / "worker.log").start()
    yield settings, catalogue, private
    worker.stop()


def publish(settings, event, private=None):
    """Publish through the SDK, which signs (with `private`) what it validated, as a source does."""
    signer = (lambda e: sign_event(e, private, "qms-cmox-01-k1")) if private is not None else None
    with Publisher.from_settings(settings, signer=signer) as publisher:
        return publisher.publish(event)


def dead_letter_of(settings, catalogue, event_id, read_topic):
    from streams.subscriber import TopicReader

    with TopicReader.from_settings(settings, catalogue.dead_letters, True) as reader:
        found = reader.collect(lambda f: len(f) >= 1, timeout=60,
                               where=lambda r: r.value is not None and r.value.get("event_id") == event_id)
    assert found, f"no dead letter for {event_id}"
    return found[0].value


def deviation(**changes):
    return example("deviation", source=CMO, **changes)


def test_a_correctly_signed_event_from_the_registered_source_is_accepted(trusted_bus):
    settings, catalogue, private = trusted_bus
    from streams.subscriber import TopicReader

    event_id = publish(settings, deviation(), private)
    with TopicReader.from_settings(settings, catalogue.inbox("HOLDER-A"), True) as inbox:
        assert inbox.collect(lambda f: len(f) >= 1, timeout=60,
                             where=lambda r: r.value is not None and r.value["event_id"] == event_id)


@pytest.mark.clause("Art. 9", "Art. 10")
@pytest.mark.parametrize("case, source, event_type, code", [
    # B's own registered QMS writes an acknowledgement into A's agreement, as HOLDER-A.
    ("another holder's system", {"system": "QMS", "instance": "qms-holderb-01", "party_id": "HOLDER-A",
                                 "party_role": "HOLDER", "user": None}, "deviation.acknowledged", "UNKNOWN_SOURCE"),
    # An unsigned approval claiming the dashboard and the name of A's head of quality.
    ("a forged dashboard approval", {"system": "DASHBOARD", "instance": "qbus-dashboard", "party_id": "HOLDER-A",
                                     "party_role": "HOLDER", "user": "王芳 Wang Fang"}, "change.approved",
     "MISSING_SIGNATURE"),
    ("the dashboard with a trailing space", {"system": "DASHBOARD", "instance": "qbus-dashboard ", "party_id": "HOLDER-A",
                                             "party_role": "HOLDER", "user": None}, "change.approved", "UNKNOWN_SOURCE"),
    ("an unregistered instance", {**CMO, "instance": "qms-cmox-99"}, "deviation.reported", "UNKNOWN_SOURCE"),
    ("another spelling", {**CMO, "instance": "QMS-CMOX-01"}, "deviation.reported", "UNKNOWN_SOURCE"),
    ("the CMO's system speaking as the holder", {**CMO, "party_id": "HOLDER-A", "party_role": "HOLDER"},
     "deviation.acknowledged", "SOURCE_PARTY_MISMATCH"),
])
def test_a_spoofed_sender_is_dead_lettered_into_the_operators_chain(trusted_bus, case, source, event_type, code, read_topic):
    settings, catalogue, _ = trusted_bus
    category = event_type.split(".")[0]
    event = example(category, event_type=event_type, source=source)
    event_id = publish(settings, event)
    letter = dead_letter_of(settings, catalogue, event_id, read_topic)
    assert letter["reason_code"] == code, (case, letter["reason"])
    assert letter["agreement_id"] is None and letter["claimed_agreement_id"] == A
    with open_ledger(settings.ledger) as ledger:
        # Nothing of it in A's chain (so not in A's dashboard, API or package); the operator's chain has it.
        assert ledger.get(event_id) is None
        assert not [r for r in ledger.iter(agreement=A) if event_id in r.body]
        assert any(event_id in r.body for r in ledger.iter(agreement=None, kinds=["dead_letter"])
                   if r.chain == NO_AGREEMENT_CHAIN)


def test_an_unsigned_event_of_the_registered_source_is_refused_in_its_own_chain(trusted_bus, read_topic):
    settings, catalogue, _ = trusted_bus
    event_id = publish(settings, deviation())
    letter = dead_letter_of(settings, catalogue, event_id, read_topic)
    assert letter["reason_code"] == "MISSING_SIGNATURE" and "qms-cmox-01 must sign" in letter["reason"]
    # The sender names a source of A: A's QA sees the refused attempt; its reason names only A's source.
    assert letter["agreement_id"] == A and "HOLDER-B" not in letter["reason"]
