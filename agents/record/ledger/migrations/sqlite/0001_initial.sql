-- The ledger: one row per record, hash-chained per agreement (see streams/ledger/chain.py).
-- Timestamps are canonical text (YYYY-MM-DDTHH:MM:SS.mmmZ, UTC), which sorts as time does.
CREATE TABLE ledger_records (
    seq           INTEGER PRIMARY KEY,            -- ledger order, over all chains
    chain         TEXT    NOT NULL,               -- agreement_id, or '-' for no agreement
    chain_seq     INTEGER NOT NULL,               -- position in the chain, from 1, no gaps
    kind          TEXT    NOT NULL CHECK (kind IN ('event', 'dead_letter')),
    record_key    TEXT    NOT NULL UNIQUE,        -- event_id or dead_letter_id: the idempotency key
    event_type    TEXT,
    agreement_id  TEXT,
    item_ref      TEXT,
    corrects_key  TEXT,                           -- the event this one corrects
    occurred_at   TEXT,
    recorded_at   TEXT    NOT NULL,
    body          TEXT    NOT NULL,               -- canonical JSON of the event / dead letter
    key_id        TEXT,
    signature     TEXT,
    prev_hash     TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    UNIQUE (chain, chain_seq)
);
CREATE INDEX ledger_records_chain_time ON ledger_records (chain, recorded_at);
CREATE INDEX ledger_records_item ON ledger_records (agreement_id, item_ref);
CREATE INDEX ledger_records_event_type ON ledger_records (event_type);
CREATE INDEX ledger_records_corrects ON ledger_records (corrects_key) WHERE corrects_key IS NOT NULL;

-- Where each chain ends. An index the ledger moves on every append, not a record: verify compares
-- it with the last record to notice records deleted from a chain's end.
CREATE TABLE ledger_chains (
    chain             TEXT PRIMARY KEY,
    last_chain_seq    INTEGER NOT NULL,
    last_hash         TEXT    NOT NULL,
    last_recorded_at  TEXT
);

-- Art. 14: records are never updated or deleted; corrections are new records. Someone with
-- write access to the file can still drop these triggers: that is what the hash chain is for.
CREATE TRIGGER ledger_records_no_update BEFORE UPDATE ON ledger_records
BEGIN
    SELECT RAISE(ABORT, 'ledger records are append-only (Art. 14): append a correction instead');
END;
CREATE TRIGGER ledger_records_no_delete BEFORE DELETE ON ledger_records
BEGIN
    SELECT RAISE(ABORT, 'ledger records are append-only (Art. 14): they are never deleted');
END;
