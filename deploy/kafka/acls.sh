#!/usr/bin/env bash
# ACLs for qbus on Apache Kafka (Tansu has none: on it the bus's own checks are the only guard).
# Principle: publishers may only write their intake topics; the worker owns the rest; each
# holder's subscriber may only read its own inbox (Art. 10).
set -euo pipefail
BOOT=${BOOT:-kafka-1:9093}
CFG=${CFG:-admin.properties}
acl() { kafka-acls.sh --bootstrap-server "$BOOT" --command-config "$CFG" "$@"; }

# The worker (one consumer group, id qbus-worker) reads and writes every qc.* topic.
acl --add --allow-principal User:qbus-worker --operation All --topic qc. --resource-pattern-type prefixed
acl --add --allow-principal User:qbus-worker --operation All --group qbus-worker
acl --add --allow-principal User:qbus-worker --operation IdempotentWrite --cluster

# A manufacturer's publishing systems: write intake topics only.
for pub in ${PUBLISHERS:-cmo-x-mes cmo-x-lims}; do
  acl --add --allow-principal "User:$pub" --operation Write --operation Describe --topic qc.intake. --resource-pattern-type prefixed
  acl --add --allow-principal "User:$pub" --operation IdempotentWrite --cluster
done

# A holder's subscriber: its own inbox only, with its own consumer group.
for holder in ${HOLDERS:-HOLDER-A}; do
  acl --add --allow-principal "User:sub-$holder" --operation Read --operation Describe --topic "qc.inbox.$holder"
  acl --add --allow-principal "User:sub-$holder" --operation Read --group "sub-$holder" --resource-pattern-type prefixed
  # holder systems publish acknowledgements and approvals
  acl --add --allow-principal "User:sub-$holder" --operation Write --topic qc.intake. --resource-pattern-type prefixed
done
