-- The ledger: one row per record, hash-chained per agreement (see streams/ledger/chain.py).
CREATE TABLE ledger_records (
    seq           BIGSERIAL PRIMARY KEY,          -- ledger order, over all chains (may have gaps)
    chain         TEXT        NOT NULL,           -- agreement_id, or '-' for no agreement
    chain_seq     BIGINT      NOT NULL,           -- position in the chain, from 1, no gaps
    kind          TEXT        NOT NULL CHECK (kind IN ('event', 'dead_letter')),
    record_key    TEXT        NOT NULL UNIQUE,    -- event_id or dead_letter_id: the idempotency key
    event_type    TEXT,
    agreement_id  TEXT,
    item_ref      TEXT,
    corrects_key  TEXT,                           -- the event this one corrects
    occurred_at   TIMESTAMPTZ,
    recorded_at   TIMESTAMPTZ NOT NULL,
    body          TEXT        NOT NULL,           -- canonical JSON, kept byte for byte (not JSONB)
    key_id        TEXT,
    signature     TEXT,
    prev_hash     TEXT        NOT NULL,
    hash          TEXT        NOT NULL,
    UNIQUE (chain, chain_seq)
);
CREATE INDEX ledger_records_chain_time ON ledger_records (chain, recorded_at);
CREATE INDEX ledger_records_item ON ledger_records (agreement_id, item_ref);
CREATE INDEX ledger_records_event_type ON ledger_records (event_type);
CREATE INDEX ledger_records_corrects ON ledger_records (corrects_key) WHERE corrects_key IS NOT NULL;

-- Where each chain ends; appends lock the row (SELECT ... FOR UPDATE) so writers of one chain
-- take turns and chain_seq stays gapless. An index, not a record: it is updated.
CREATE TABLE ledger_chains (
    chain             TEXT PRIMARY KEY,
    last_chain_seq    BIGINT NOT NULL,
    last_hash         TEXT   NOT NULL,
    last_recorded_at  TIMESTAMPTZ
);

-- Art. 14: records are never updated or deleted; corrections are new records. A superuser can
-- still drop this trigger: that is what the hash chain is for.
CREATE FUNCTION ledger_records_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger records are append-only (Art. 14): % refused; append a correction instead', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_records_append_only BEFORE UPDATE OR DELETE ON ledger_records
    FOR EACH ROW EXECUTE FUNCTION ledger_records_refuse_change();
CREATE TRIGGER ledger_records_no_truncate BEFORE TRUNCATE ON ledger_records
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_records_refuse_change();
