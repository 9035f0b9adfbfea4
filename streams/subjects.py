"""Which subjects the bus's schemas are registered under, so any Kafka client can find them.

Two naming strategies, one id per schema text:

* RecordNameStrategy, ``qbus.events.<Category>Event`` (and ``qbus.DeadLetter``): what the bus itself
  uses, because ``qc.accepted`` and the holder inboxes carry every category.
* TopicNameStrategy, ``<topic>-value``: what a standard serializer looks for. A topic that carries
  exactly one schema gets one: ``qc.intake.<category>-value`` for each category systems publish,
  ``qc.<bus records>-value`` (``qc.obligations-value``, ...) and ``qc.deadletter-value``.

``qc.accepted`` and ``qc.inbox.<holder>`` carry many schemas (every category; inboxes also the bus's
findings, obligations and other records), so they have no topic subject and no union schema is made
for them: their consumers decode by the schema id in each record's frame (an ``AvroDeserializer``
does so by itself) or use the record-name subjects. ``qc.agreements`` carries agreement YAML, not Avro.
"""
from __future__ import annotations

from dataclasses import dataclass

from schemas import SchemaSet, default_schemas
from streams.registry import SchemaRegistry, canonical_text
from streams.topics import TopicCatalogue

VALUE_SUFFIX = "-value"


@dataclass(frozen=True)
class Registration:
    subject: str
    record_name: str
    schema: str          # canonical text, byte for byte what the codec registers
    topic: str | None    # the topic of a TopicNameStrategy subject; None for a record-name subject


def value_subject(topic: str) -> str:
    return f"{topic}{VALUE_SUFFIX}"


def dead_letter_name(schemas: SchemaSet) -> str:
    return f"{schemas.dead_letter['namespace']}.{schemas.dead_letter['name']}"


def single_schema_topics(catalogue: TopicCatalogue, schemas: SchemaSet | None = None) -> dict[str, tuple[str, str]]:
    """Topic -> (record name, canonical schema text) for every topic that carries exactly one schema."""
    schemas = schemas or catalogue.schemas
    out: dict[str, tuple[str, str]] = {}
    for category in schemas.intake_categories:
        schema = schemas.categories[category]
        out[catalogue.intake(category)] = (schema.name, schema.canonical)
    for category in schemas.bus_categories:
        schema = schemas.categories[category]
        out[catalogue.bus(category)] = (schema.name, schema.canonical)
    out[catalogue.dead_letters] = (dead_letter_name(schemas), canonical_text(schemas.dead_letter))
    return out


def registrations(catalogue: TopicCatalogue, schemas: SchemaSet | None = None) -> list[Registration]:
    """Every (subject, schema) the bus's schemas go under: each record name, then each topic subject."""
    schemas = schemas or default_schemas()
    topics = single_schema_topics(catalogue, schemas)
    by_name = {name: text for name, text in topics.values()}
    out = [Registration(name, name, text, None) for name, text in by_name.items()]
    out += [Registration(value_subject(topic), name, text, topic) for topic, (name, text) in topics.items()]
    return out


def register_all(registry: SchemaRegistry, catalogue: TopicCatalogue,
                 schemas: SchemaSet | None = None) -> list[tuple[Registration, int]]:
    """Register every schema under both its subjects; returns each registration with its id."""
    return [(r, registry.register(r.subject, r.schema)) for r in registrations(catalogue, schemas)]


def topic_subject(catalogue: TopicCatalogue, topic: str, schemas: SchemaSet | None = None) -> str | None:
    """The TopicNameStrategy subject of a topic's values, or None where the topic carries many schemas."""
    return value_subject(topic) if topic in single_schema_topics(catalogue, schemas) else None
