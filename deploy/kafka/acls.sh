#!/usr/bin/env bash
# ACLs for qbus on Apache Kafka (Tansu has none: on it the bus's own checks are the only guard).
# Generated from the agreements, so each registered source's principal may write only the intake
# topics it publishes, the worker owns the bus's topics, and each holder's subscriber reads its own
# inbox only and writes nothing (Art. 10). See `qbus kafka acls --help`.
#   BOOT=kafka-1:9093 CFG=admin.properties QBUS_AGREEMENTS_DIR=/etc/qbus/agreements deploy/kafka/acls.sh
set -euo pipefail
export BOOT=${BOOT:-kafka-1:9093}
export CFG=${CFG:-admin.properties}
qbus kafka acls --worker-principal "${WORKER_PRINCIPAL:-qbus-worker}" | bash
