"""The topic catalogue: every qbus topic is declared here, once.

Agents, the SDK and `qbus topics create` all take names from here. Never rely on the broker's
auto-create (Tansu auto-creates with defaults and acks; Kafka may be configured either way).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from schemas import SchemaSet, default_schemas

DAY_MS = 24 * 3600 * 1000
FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    cleanup_policy: str       # "delete" or "compact"
    retention_ms: int          # -1 keeps forever
    key: str                   # what the record key is
    value: str                 # what the record value is
    purpose: str

    def configs(self, min_insync: int | None = None) -> dict[str, str]:
        configs = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            configs["retention.ms"] = str(self.retention_ms)
        if min_insync:
            configs["min.insync.replicas"] = str(min_insync)
        return configs


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", part)


class TopicCatalogue:
    def __init__(self, prefix: str = "qc", partitions: int = 3, replication: int = 1,
                 schemas: SchemaSet | None = None):
        self.prefix = prefix
        self.partitions = partitions
        self.replication = replication
        self.schemas = schemas or default_schemas()

    # -- names -------------------------------------------------------------------------------
    def intake(self, category: str) -> str:
        return f"{self.prefix}.intake.{category}"

    @property
    def accepted(self) -> str:
        return f"{self.prefix}.accepted"

    @property
    def urgent(self) -> str:
        """Accepted events that may be a significant risk (Art. 5): the core stage takes them ahead
        of any backlog on ``accepted``."""
        return f"{self.prefix}.accepted.urgent"

    @property
    def dead_letters(self) -> str:
        return f"{self.prefix}.deadletter"

    def bus(self, category: str) -> str:
        """Topic of records the bus emits: obligations, escalations, directives, findings, deliveries."""
        plural = {"delivery": "deliveries"}.get(category, f"{category}s")
        return f"{self.prefix}.{plural}"

    @property
    def agreements(self) -> str:
        return f"{self.prefix}.agreements"

    def inbox(self, holder_id: str) -> str:
        # Art. 10: each holder has its own inbox; nothing for holder A is ever written to B's.
        return f"{self.prefix}.inbox.{_safe(holder_id)}"

    def intake_topics(self) -> list[str]:
        return [self.intake(c) for c in self.schemas.intake_categories]

    # -- specs -------------------------------------------------------------------------------
    def _spec(self, name, cleanup, retention, key, value, purpose, partitions=None) -> TopicSpec:
        return TopicSpec(name, partitions or self.partitions, self.replication, cleanup, retention,
                         key, value, purpose)

    def specs(self, holder_ids: tuple[str, ...] = ()) -> list[TopicSpec]:
        item_key = "'<agreement_id>|<item_ref>' (one item's events stay in order)"
        specs = [
            self._spec(self.intake(c), "delete", 90 * DAY_MS, item_key, f"{c} event (Avro)",
                       f"{c} events published by source systems")
            for c in self.schemas.intake_categories
        ]
        manufacturer_key = "manufacturer_id (a manufacturer's events, and so its rules and clocks, on one partition)"
        specs += [
            # Partitioned by manufacturer: what a rule needs together (a line's holders, a site's
            # suspensions, an agreement's clocks; an agreement has one manufacturer) is on one
            # partition, so each worker of the group owns some manufacturers and rebuilds only
            # their state from the ledger when it gains them.
            self._spec(self.accepted, "delete", 365 * DAY_MS, manufacturer_key, "any validated event",
                       "events that passed intake, for the rules, obligations and routing"),
            self._spec(self.urgent, "delete", 365 * DAY_MS, manufacturer_key, "a validated event",
                       "accepted events that may be a significant risk (Art. 5), taken ahead of any backlog"),
            self._spec(self.dead_letters, "delete", FOREVER, "original key", "DeadLetter (Avro)",
                       "refused input, with the original bytes and the reason; never dropped"),
            self._spec(self.agreements, "compact", FOREVER, "agreement_id", "agreement YAML",
                       "current quality agreements, latest version per key", partitions=1),
        ]
        for category in self.schemas.bus_categories:
            compact = category in COMPACTED
            specs.append(self._spec(
                self.bus(category), "compact" if compact else "delete", FOREVER,
                COMPACTED.get(category, item_key), f"{category} event (Avro)",
                f"{category} records emitted by the bus"))
        specs += [self._spec(self.inbox(h), "delete", 365 * DAY_MS, item_key, "redacted event",
                             f"what holder {h} may see (Art. 10)") for h in holder_ids]
        return specs

    @classmethod
    def from_settings(cls, settings) -> "TopicCatalogue":
        return cls(settings.topic_prefix, settings.partitions, settings.replication_factor)


# Compacted topics and what their key is: compaction keeps the latest record per key.
COMPACTED = {"obligation": "obligation_id (compaction keeps each obligation's latest state)"}


def item_key(event: dict) -> bytes:
    return f"{event['agreement_id']}|{event['item_ref']}".encode()


def record_key(event: dict) -> bytes:
    """The key of an event on its topic: the obligation's id on the compacted obligations topic (so
    compaction keeps every obligation's latest state), else the item's key (one item in order)."""
    if event["event_type"].startswith("obligation."):
        return str(event["payload"]["obligation_id"]).encode()
    return item_key(event)


def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key (murmur2, as the Java client does), so
    the bus and any Kafka client agree where a manufacturer's events go."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode("utf-8")) & 0x7FFFFFFF) % partitions
