"""Provision the catalogue's topics with kafka-python's admin client, idempotently."""
from __future__ import annotations

from dataclasses import dataclass

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.topics import TopicSpec


@dataclass
class ProvisionResult:
    created: list[str]
    existing: list[str]


def admin_client(settings) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers,
                            request_timeout_ms=int(settings.request_timeout_s * 1000),
                            client_id="qbus-admin", **settings.kafka_client_config())


def create_topics(admin: KafkaAdminClient, specs: list[TopicSpec],
                  min_insync: int | None = None) -> ProvisionResult:
    existing = set(admin.list_topics())
    missing = [s for s in specs if s.name not in existing]
    created = []
    for spec in missing:  # one at a time: a failure names the topic
        try:
            admin.create_topics([NewTopic(spec.name, spec.partitions, spec.replication,
                                          topic_configs=spec.configs(min_insync))])
            created.append(spec.name)
        except TopicAlreadyExistsError:  # created meanwhile by another process
            pass
    return ProvisionResult(created, sorted(s.name for s in specs if s.name in existing))
