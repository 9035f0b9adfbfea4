"""The ledger interface, and the append planning both backends share.

Art. 14: every accepted event, dead letter and bus decision is appended, in order, and never
updated or deleted; a correction is a new event whose ``corrects_event_id`` names the old one.
A backend only has to fetch chain heads and existing keys under a lock, store the planned rows and
move the heads; what a row contains, and how it is hashed and chained, is decided here once.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from streams.canonical import canonical_json, parse_timestamp, truncate_to_millis
from agents.record.ledger.bookkeeping import (Checkpoint, EventState, Position, checkpoint_of, position_seqs,
                                              seqs_json)
from agents.record.ledger.chain import (GENESIS_HASH, ChainHead, LedgerRecord, VerifyReport, chain_for, compute_hash,
                                  verify_records)

PAGE_SIZE = 1000  # rows per query when iterating; keeps no transaction open between pages


@dataclass(frozen=True)
class AppendResult:
    """status: ``appended``; ``duplicate`` (same key, same content: stored once, this is the stored
    one); ``conflict`` (same key, different content: not stored; the stored one is described)."""
    record_key: str
    status: str
    seq: int
    chain: str
    chain_seq: int
    hash: str

    @property
    def stored(self) -> bool:
        return self.status == "appended"


@dataclass(frozen=True)
class Draft:
    """A record before it has a place in a chain."""
    kind: str
    record_key: str
    chain: str
    event_type: str | None
    agreement_id: str | None
    item_ref: str | None
    corrects_key: str | None
    occurred_at: datetime | None
    body: str
    key_id: str | None
    signature: str | None
    event_ref: str | None = None     # a dead letter's refused event_id (bookkeeping, outside the hash)


def _timestamp(value: Any) -> datetime | None:
    return parse_timestamp(value) if value else None


def draft_from(item: Mapping[str, Any]) -> Draft:
    """An event dict (has ``event_id``) or a dead-letter dict (has ``dead_letter_id``) as a Draft."""
    body = canonical_json(item)
    if item.get("dead_letter_id"):
        agreement = item.get("agreement_id") or None
        return Draft("dead_letter", str(item["dead_letter_id"]), chain_for(agreement), None, agreement, None,
                     None, _timestamp(item.get("received_at")), body, None, None, item.get("event_id") or None)
    if item.get("event_id") and item.get("event_type"):
        signature = item.get("signature") or {}
        agreement = item.get("agreement_id") or None
        corrects = item.get("corrects_event_id")
        return Draft("event", str(item["event_id"]), chain_for(agreement), str(item["event_type"]), agreement,
                     item.get("item_ref"), str(corrects) if corrects else None, _timestamp(item.get("occurred_at")),
                     body, signature.get("key_id"), signature.get("value"))
    raise ValueError("neither an event (needs event_id and event_type) nor a dead letter (needs dead_letter_id)")


@dataclass
class Plan:
    rows: list[LedgerRecord]             # the records to insert, complete
    refs: list[str | None]               # each row's event_ref (dead letters: the event they refused)
    results: list[AppendResult]          # one per input, in input order
    heads: dict[str, ChainHead]          # the chain heads after the append


def count_new(drafts: Sequence[Draft], existing: Mapping[str, LedgerRecord]) -> int:
    """How many seqs the backend must allocate: drafts neither stored nor repeated in the batch."""
    return len({d.record_key for d in drafts} - set(existing))


def plan_append(drafts: Sequence[Draft], heads: Mapping[str, ChainHead | None],
                existing: Mapping[str, LedgerRecord], seqs: Iterable[int], now: datetime | None = None) -> Plan:
    """Give each new draft its seq, chain position, timestamp, prev_hash and hash; classify the others.

    `seqs` yields at least `count_new(drafts, existing)` increasing ledger positions.
    """
    now = truncate_to_millis(now or datetime.now(timezone.utc))
    positions = iter(seqs)
    tips = {c: h for c, h in heads.items() if h is not None}
    rows: list[LedgerRecord] = []
    refs: list[str | None] = []
    results: list[AppendResult] = []
    in_batch: dict[str, LedgerRecord] = {}
    for draft in drafts:
        stored = existing.get(draft.record_key) or in_batch.get(draft.record_key)
        if stored is not None:
            # Idempotent: the same event written twice is stored once.
            status = "duplicate" if stored.body == draft.body else "conflict"
            results.append(AppendResult(draft.record_key, status, stored.seq, stored.chain, stored.chain_seq, stored.hash))
            continue
        tip = tips.get(draft.chain)
        # recorded_at never goes backwards within a chain, so a time range is a contiguous slice.
        recorded_at = max(now, tip.last_recorded_at) if tip and tip.last_recorded_at else now
        values = dict(
            seq=next(positions), chain=draft.chain, chain_seq=(tip.last_chain_seq if tip else 0) + 1, kind=draft.kind,
            record_key=draft.record_key, event_type=draft.event_type, agreement_id=draft.agreement_id,
            item_ref=draft.item_ref, corrects_key=draft.corrects_key, occurred_at=draft.occurred_at,
            recorded_at=recorded_at, body=draft.body, key_id=draft.key_id, signature=draft.signature,
            prev_hash=tip.last_hash if tip else GENESIS_HASH)
        record = LedgerRecord(**values, hash=compute_hash(LedgerRecord(**values, hash="")))
        tips[draft.chain] = ChainHead(draft.chain, record.chain_seq, record.hash, record.recorded_at)
        in_batch[draft.record_key] = record
        rows.append(record)
        refs.append(draft.event_ref)
        results.append(AppendResult(record.record_key, "appended", record.seq, record.chain, record.chain_seq,
                                    record.hash))
    return Plan(rows, refs, results, {c: tips[c] for c in {r.chain for r in rows}})


class Ledger(ABC):
    """An append-only, hash-chained record. One chain per agreement (see agents/record/ledger/__init__.py)."""

    url: str

    @abstractmethod
    def append(self, items: Iterable[Mapping[str, Any]], positions: Sequence[Position] = ()) -> list[AppendResult]:
        """Append events and dead letters as one batch (one transaction), in the order given, and
        move the stage positions the batch covers in that same transaction.

        Returns one result per item, in order. Idempotent by record key (event_id / dead_letter_id).
        """

    @abstractmethod
    def iter(self, agreement: str | None = None, since: datetime | int | None = None,
             kinds: Iterable[str] | None = None, *, until: datetime | None = None,
             event_types: Iterable[str] | None = None,
             agreements: Iterable[str] | None = None) -> Iterator[LedgerRecord]:
        """Records in ledger order (seq). `since`: a datetime (recorded_at >= since) or a seq (seq > since);
        `until`: recorded_at < until; `kinds`: 'event', 'dead_letter'; `event_types`: exact types,
        or 'category.*' for a whole category; `agreements`: records of these agreements' chains only."""

    # Bookkeeping (agents/record/ledger/bookkeeping.py): positions, checkpoints, notifications.
    @abstractmethod
    def position(self, stage: str, topic: str, partition: int) -> Position | None: ...

    @abstractmethod
    def save_checkpoint(self, name: str, upto_seq: int, body: bytes) -> Checkpoint: ...

    @abstractmethod
    def load_checkpoint(self, name: str) -> Checkpoint | None: ...

    @abstractmethod
    def mark_sent(self, key: str) -> bool:
        """Note that a notification went out; False if it had been noted before (by any worker)."""

    @abstractmethod
    def was_sent(self, key: str) -> bool: ...

    @abstractmethod
    def event_state(self, event_id: str) -> EventState: ...

    @abstractmethod
    def get_many(self, record_keys: Iterable[str]) -> dict[str, LedgerRecord]: ...

    @abstractmethod
    def by_seqs(self, seqs: Iterable[int]) -> list[LedgerRecord]: ...

    @abstractmethod
    def get(self, record_key: str) -> LedgerRecord | None: ...

    @abstractmethod
    def count(self, agreement: str | None = None) -> int: ...

    @abstractmethod
    def heads(self) -> dict[str, ChainHead]: ...

    @abstractmethod
    def close(self) -> None: ...

    # Backends provide these three for verify.
    @abstractmethod
    def _chain_pages(self, chain: str, after_chain_seq: int, upto: int | None) -> list[LedgerRecord]:
        """Up to PAGE_SIZE records of one chain with chain_seq > after_chain_seq (<= upto), in chain_seq order."""

    @abstractmethod
    def _chains(self) -> set[str]: ...

    @abstractmethod
    def _find_by_hash(self, record_hash: str) -> LedgerRecord | None: ...

    def verify(self, agreement: str | None = None, keys=None) -> VerifyReport:
        """Walk every chain (or the agreement's) and report counts, or the first broken record per chain.

        With `keys` (a `streams.signing.KeyRegistry`) the signatures of signed events are checked too.
        """
        heads = self.heads()
        chains = {chain_for(agreement)} if agreement is not None else set(heads) | self._chains()
        check = signature_checker(keys) if keys is not None else None
        report = VerifyReport()
        for chain in sorted(chains):
            head = heads.get(chain)
            verify_records(self._walk(chain, head.last_chain_seq if head else None),
                           heads={chain: head} if head else None, lookup=self._find_by_hash,
                           check_signature=check, report=report)
        if agreement is not None and not report.records:
            report.notes.append(f"no record of agreement {agreement} in this ledger")
        return report

    def _walk(self, chain: str, upto: int | None) -> Iterator[LedgerRecord]:
        after = 0
        while True:
            page = self._chain_pages(chain, after, upto)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            after = page[-1].chain_seq

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def signature_checker(keys):
    """A verify callback re-checking a stored event's signature against a key registry."""
    from streams.signing import verify_event

    def check(record: LedgerRecord) -> str | None:
        if record.kind != "event" or not record.key_id:
            return None
        result = verify_event(json.loads(record.body), keys)
        return None if result.ok else result.reason
    return check


def event_type_clause(event_types: Iterable[str], placeholder: str) -> tuple[str, list[str]]:
    """SQL for an event_types filter: exact names, or 'category.*' as a prefix match."""
    parts, params = [], []
    for name in event_types:
        if name.endswith(".*"):
            parts.append(f"event_type LIKE {placeholder}")
            params.append(name[:-1] + "%")
        else:
            parts.append(f"event_type = {placeholder}")
            params.append(name)
    return "(" + " OR ".join(parts or ["1=0"]) + ")", params


class SqlLedger(Ledger):
    """The reads both SQL backends share. A backend sets ``_conn``, ``_lock``, ``COLUMNS``,
    ``PLACEHOLDER`` (its DB-API parameter mark) and ``_record`` (a row as a LedgerRecord)."""

    COLUMNS: str
    PLACEHOLDER = "?"
    _record: Callable[[tuple], LedgerRecord]  # a row as a LedgerRecord; each backend's own

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            cursor = self._conn.execute(query.replace("?", self.PLACEHOLDER), params)
            return cursor.fetchall() if cursor.description is not None else []

    def get(self, record_key: str) -> LedgerRecord | None:
        rows = self._rows(f"SELECT {self.COLUMNS} FROM ledger_records WHERE record_key = ?", (record_key,))
        return self._record(rows[0]) if rows else None

    def count(self, agreement: str | None = None) -> int:
        if agreement is None:
            return self._rows("SELECT COUNT(*) FROM ledger_records")[0][0]
        return self._rows("SELECT COUNT(*) FROM ledger_records WHERE chain = ?", (chain_for(agreement),))[0][0]

    def _chain_pages(self, chain: str, after_chain_seq: int, upto: int | None) -> list[LedgerRecord]:
        query = f"SELECT {self.COLUMNS} FROM ledger_records WHERE chain = ? AND chain_seq > ?"
        params: list[Any] = [chain, after_chain_seq]
        if upto is not None:
            query += " AND chain_seq <= ?"
            params.append(upto)
        return [self._record(r) for r in self._rows(query + f" ORDER BY chain_seq LIMIT {PAGE_SIZE}", params)]

    def _chains(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT DISTINCT chain FROM ledger_records")}

    def _find_by_hash(self, record_hash: str) -> LedgerRecord | None:
        rows = self._rows(f"SELECT {self.COLUMNS} FROM ledger_records WHERE hash = ? LIMIT 1", (record_hash,))
        return self._record(rows[0]) if rows else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- bookkeeping (both backends; each gives ``_ts_param`` and ``_ts_value``) --
    def _ts_param(self, moment: datetime) -> Any:
        return moment

    def _ts_value(self, value: Any) -> datetime:
        return value

    def get_many(self, record_keys: Iterable[str]) -> dict[str, LedgerRecord]:
        keys = list(dict.fromkeys(record_keys))
        found: dict[str, LedgerRecord] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._rows(f"SELECT {self.COLUMNS} FROM ledger_records WHERE record_key IN ({marks})", chunk):
                record = self._record(row)
                found[record.record_key] = record
        return found

    def by_seqs(self, seqs: Iterable[int]) -> list[LedgerRecord]:
        wanted = sorted(set(seqs))
        out: list[LedgerRecord] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out += [self._record(r) for r in self._rows(
                f"SELECT {self.COLUMNS} FROM ledger_records WHERE seq IN ({marks}) ORDER BY seq", chunk)]
        return out

    def position(self, stage: str, topic: str, partition: int) -> Position | None:
        rows = self._rows("SELECT next_offset, last_key, last_seqs, updated_at FROM stage_positions "
                          "WHERE stage = ? AND topic = ? AND partition = ?", (stage, topic, partition))
        if not rows:
            return None
        offset, key, seqs, at = rows[0]
        return Position(stage, topic, partition, int(offset), key, (), tuple(json.loads(seqs)), self._ts_value(at))

    def save_checkpoint(self, name: str, upto_seq: int, body: bytes) -> Checkpoint:
        checkpoint = checkpoint_of(name, upto_seq, datetime.now(timezone.utc), body)
        self._rows("INSERT INTO checkpoints (name, upto_seq, created_at, sha256, body) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET upto_seq = excluded.upto_seq, created_at = excluded.created_at, "
                   "sha256 = excluded.sha256, body = excluded.body",
                   (name, upto_seq, self._ts_param(checkpoint.created_at), checkpoint.sha256, body))
        return checkpoint

    def load_checkpoint(self, name: str) -> Checkpoint | None:
        rows = self._rows("SELECT upto_seq, created_at, sha256, body FROM checkpoints WHERE name = ?", (name,))
        if not rows:
            return None
        upto, at, digest, body = rows[0]
        return Checkpoint(name, int(upto), self._ts_value(at), digest, bytes(body))

    def mark_sent(self, key: str) -> bool:
        rows = self._rows("INSERT INTO notify_sent (key, marked_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING "
                          "RETURNING key", (key, self._ts_param(datetime.now(timezone.utc))))
        return bool(rows)

    def was_sent(self, key: str) -> bool:
        return bool(self._rows("SELECT 1 FROM notify_sent WHERE key = ?", (key,)))

    def event_state(self, event_id: str) -> EventState:
        record = self.get(event_id)
        if record is not None and record.kind == "event":
            return EventState(event_id, "recorded", record)
        letters = tuple(self._record(r) for r in self._rows(
            f"SELECT {self.COLUMNS} FROM ledger_records WHERE event_ref = ? ORDER BY seq", (event_id,)))
        if letters:
            return EventState(event_id, "dead_lettered", None, letters)
        return EventState(event_id, "unknown")

    def _position_rows(self, positions: Sequence[Position], results: list[AppendResult]) -> list[tuple]:
        now = self._ts_param(datetime.now(timezone.utc))
        return [(p.stage, p.topic, p.partition, p.next_offset, p.last_key, seqs_json(position_seqs(p, results)), now)
                for p in positions]

    POSITION_UPSERT = ("INSERT INTO stage_positions (stage, topic, partition, next_offset, last_key, last_seqs, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (stage, topic, partition) DO UPDATE SET "
                       "next_offset = excluded.next_offset, last_key = excluded.last_key, "
                       "last_seqs = excluded.last_seqs, updated_at = excluded.updated_at")
