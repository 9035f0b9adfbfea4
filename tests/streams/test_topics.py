"""The catalogue declares every topic once; provisioning is idempotent on the real broker."""
from schemas import ART7_CATEGORIES, default_schemas
from streams.admin import admin_client, create_topics
from streams.topics import TopicCatalogue


def test_catalogue_has_an_intake_topic_per_category_and_the_bus_topics():
    catalogue = TopicCatalogue("qc", 3, 1)
    names = {s.name for s in catalogue.specs(("HOLDER-A",))}
    for category in ART7_CATEGORIES:
        assert f"qc.intake.{category}" in names
    assert {"qc.accepted", "qc.deadletter", "qc.agreements", "qc.obligations", "qc.inbox.HOLDER-A"} <= names
    assert len(names) == len(catalogue.specs(("HOLDER-A",))), "a topic is declared twice"


def test_obligation_and_agreement_topics_are_compacted():
    specs = {s.name: s for s in TopicCatalogue("qc", 3, 1).specs()}
    assert specs["qc.obligations"].cleanup_policy == "compact"
    assert specs["qc.agreements"].cleanup_policy == "compact"
    assert specs["qc.deadletter"].retention_ms == -1  # dead letters are kept


def test_create_is_idempotent(bus_settings, broker):
    settings = bus_settings.model_copy(update={"topic_prefix": "idem"})
    specs = TopicCatalogue.from_settings(settings).specs()
    admin = admin_client(settings)
    try:
        first = create_topics(admin, specs)
        second = create_topics(admin, specs)
        listed = set(admin.list_topics())
    finally:
        admin.close()
    assert len(first.created) == len(specs) and first.existing == []
    assert second.created == [] and len(second.existing) == len(specs)
    assert {s.name for s in specs} <= listed
    assert len(default_schemas().intake_categories) >= 16
