-- Operational tables beside the records: where each stage of the worker has got to, compact
-- checkpoints of its state, and which notifications went out. They are updated (they are
-- bookkeeping, not the record); ledger_records stays append-only.

-- A stage's consumer position per topic partition, written in the same transaction as the
-- records that processing produced, so a worker that gains the partition continues exactly there.
CREATE TABLE stage_positions (
    stage        TEXT    NOT NULL,                 -- e.g. 'core'
    topic        TEXT    NOT NULL,
    partition    INTEGER NOT NULL,
    next_offset  BIGINT  NOT NULL,                 -- the first offset not yet processed
    last_key     TEXT,                             -- the record key at next_offset - 1: tells a re-created topic
    last_seqs    TEXT    NOT NULL DEFAULT '[]',    -- ledger seqs the last step appended (sent again after a crash)
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stage, topic, partition)
);

-- Compact snapshots of a stage's state, with the last ledger seq they cover.
CREATE TABLE checkpoints (
    name        TEXT PRIMARY KEY,                  -- e.g. 'core/qc.accepted/0'
    upto_seq    BIGINT  NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    sha256      TEXT    NOT NULL,
    body        BYTEA   NOT NULL
);

-- Notifications delivered (once per key, whichever worker or host sends them).
CREATE TABLE notify_sent (
    key        TEXT PRIMARY KEY,
    marked_at  TIMESTAMPTZ NOT NULL
);

-- For a dead letter: the event_id it refused (found by `event_state` without reading bodies).
ALTER TABLE ledger_records ADD COLUMN event_ref TEXT;
CREATE INDEX ledger_records_event_ref ON ledger_records (event_ref) WHERE event_ref IS NOT NULL;
