"""Record hashes and the verify walk: pure code shared by both backends and the package verifier.

A record's hash is SHA-256 over the canonical JSON (`streams.canonical`) of everything the record
says: its chain, kind, key, event type, agreement, item, the record it corrects, when it occurred
and was recorded, key id and signature, its body (the event's canonical JSON) and the hash of the
record before it in its chain (``prev_hash``; the first record links to `GENESIS_HASH`).
Positions (``seq``, ``chain_seq``) are deliberately outside the hash: the order is carried by the
``prev_hash`` links, which is what lets the walk tell a swapped record (its link points to a record
that is somewhere else) from an edited one (its content no longer matches its own hash) and from a
deleted one (a gap in ``chain_seq``, or a link to a hash that no longer exists).
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from streams.canonical import canonical_json, format_timestamp, parse_timestamp

GENESIS_HASH = "0" * 64
NO_AGREEMENT_CHAIN = "-"  # the chain of dead letters that name no (known) agreement
HASH_VERSION = 2    # how new records are hashed; version 1 records (written before) still verify
KINDS = ("event", "dead_letter")


def chain_for(agreement_id: str | None) -> str:
    return agreement_id or NO_AGREEMENT_CHAIN


@dataclass(frozen=True)
class LedgerRecord:
    """One stored record. `body` is the event's (or dead letter's) canonical JSON text."""
    seq: int
    chain: str
    chain_seq: int
    kind: str
    record_key: str
    event_type: str | None
    agreement_id: str | None
    item_ref: str | None
    corrects_key: str | None
    occurred_at: datetime | None
    recorded_at: datetime
    body: str
    key_id: str | None
    signature: str | None
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict:
        """The body parsed: the event as stored (timestamps as canonical strings, bytes as base64)."""
        return json.loads(self.body)

    def label(self) -> str:
        return f"seq {self.seq} (chain {self.chain} #{self.chain_seq}, {self.kind} {self.record_key})"

    def to_export(self) -> dict:
        """The record as one JSON Lines object: every column, the body as a nested object."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["occurred_at"] = format_timestamp(self.occurred_at) if self.occurred_at else None
        out["recorded_at"] = format_timestamp(self.recorded_at)
        out["body"] = json.loads(self.body)
        return out

    @classmethod
    def from_export(cls, obj: Mapping[str, Any]) -> "LedgerRecord":
        values = {f.name: obj.get(f.name) for f in fields(cls)}
        values["body"] = canonical_json(obj["body"])
        values["occurred_at"] = parse_timestamp(obj["occurred_at"]) if obj.get("occurred_at") else None
        values["recorded_at"] = parse_timestamp(obj["recorded_at"])
        return cls(**values)


def hash_content(record: LedgerRecord, version: int = HASH_VERSION) -> dict:
    """What a record's hash covers: everything but its positions (seq, chain_seq) and the hash itself
    (in version 2, all but the body, which follows the header as it is)."""
    content = {
        "v": version, "chain": record.chain, "kind": record.kind, "record_key": record.record_key,
        "event_type": record.event_type, "agreement_id": record.agreement_id, "item_ref": record.item_ref,
        "corrects_key": record.corrects_key,
        "occurred_at": format_timestamp(record.occurred_at) if record.occurred_at else None,
        "recorded_at": format_timestamp(record.recorded_at), "key_id": record.key_id, "signature": record.signature,
        "prev_hash": record.prev_hash,
    }
    if version == 1:
        content["body"] = record.body
    return content


def compute_hash(record: LedgerRecord, version: int = HASH_VERSION) -> str:
    """SHA-256 of the record (`hash_content`). Version 2 (records written since): the header's
    canonical JSON, a newline, then the body's canonical JSON as stored, so the body is hashed
    as it is, not escaped into a string again. Version 1 (older records): one JSON object with
    the body as a string field."""
    header = json.dumps(hash_content(record, version), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if version == 1:
        return hashlib.sha256(header.encode("utf-8")).hexdigest()
    digest = hashlib.sha256(header.encode("utf-8"))
    digest.update(b"\n")
    digest.update(record.body.encode("utf-8"))
    return digest.hexdigest()


def hash_holds(record: LedgerRecord) -> bool:
    """Whether the record's content matches its stored hash, by the version it was written with."""
    return compute_hash(record) == record.hash or compute_hash(record, 1) == record.hash


@dataclass(frozen=True)
class ChainHead:
    """The ledger's own note of where a chain ends (updated on each append; an index, not a record)."""
    chain: str
    last_chain_seq: int
    last_hash: str
    last_recorded_at: datetime | None


# --- verification ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """What is wrong and where. kind: edited, missing, reordered, signature, file, manifest, range."""
    kind: str
    detail: str
    chain: str | None = None
    seq: int | None = None
    chain_seq: int | None = None
    record_key: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.chain is not None:
            where.append(f"chain {self.chain}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.chain_seq is not None:
            where.append(f"#{self.chain_seq}")
        if self.record_key:
            where.append(f"record {self.record_key}")
        return f"{self.kind.upper()}: {', '.join(where)}: {self.detail}" if where else f"{self.kind.upper()}: {self.detail}"


@dataclass
class ChainSummary:
    chain: str
    records: int = 0
    first_chain_seq: int | None = None
    last_chain_seq: int | None = None
    last_hash: str | None = None


@dataclass
class VerifyReport:
    chains: dict[str, ChainSummary] = field(default_factory=dict)
    kinds: Counter = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def records(self) -> int:
        return sum(c.records for c in self.chains.values())

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def counts_text(self) -> str:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}{'s' if n != 1 else ''}" for k, n in sorted(self.kinds.items()))
        return f"{self.records} records in {len(self.chains)} chain(s)" + (f" ({kinds})" if kinds else "")

    def summary(self) -> str:
        lines = [("OK: " if self.ok else "BROKEN: ") + self.counts_text()]
        for chain in sorted(self.chains.values(), key=lambda c: c.chain):
            if chain.records:
                lines.append(f"  chain {chain.chain}: #{chain.first_chain_seq}..#{chain.last_chain_seq}, "
                             f"head {chain.last_hash}")
        lines += [f"  {p}" for p in self.problems]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


Lookup = Callable[[str], "LedgerRecord | None"]
SignatureChecker = Callable[[LedgerRecord], "str | None"]


class ChainWalker:
    """Walks one chain in chain_seq order; keeps the first problem found (later ones are its echo)."""

    def __init__(self, chain: str, report: VerifyReport, *, anchor_hash: str = GENESIS_HASH,
                 first_chain_seq: int = 1, lookup: Lookup | None = None,
                 check_signature: SignatureChecker | None = None):
        self.chain = chain
        self.report = report
        self.summary = report.chains.setdefault(chain, ChainSummary(chain))
        self.anchor_hash = anchor_hash
        self.first_chain_seq = first_chain_seq
        self.lookup = lookup
        self.check_signature = check_signature
        self.previous: LedgerRecord | None = None
        self.broken = False

    def _fail(self, kind: str, record: LedgerRecord | None, detail: str) -> None:
        self.broken = True
        self.report.problems.append(Problem(kind, detail, self.chain, record.seq if record else None,
                                            record.chain_seq if record else None,
                                            record.record_key if record else None))

    def feed(self, record: LedgerRecord) -> None:
        self.summary.records += 1
        self.report.kinds[record.kind] += 1
        if self.summary.first_chain_seq is None:
            self.summary.first_chain_seq = record.chain_seq
        self.summary.last_chain_seq = record.chain_seq
        self.summary.last_hash = record.hash
        if not self.broken:
            self._check(record)
        self.previous = record

    def _check(self, record: LedgerRecord) -> None:
        prev = self.previous
        computed = compute_hash(record)
        if computed != record.hash and not hash_holds(record):
            # Art. 14: a record whose content no longer matches its hash was changed after writing.
            return self._fail("edited", record, f"its content does not match its hash (stored {record.hash[:16]}…, "
                                                f"computed {computed[:16]}…): the record was changed after it was written")
        expected_seq = prev.chain_seq + 1 if prev else self.first_chain_seq
        if record.chain_seq > expected_seq:
            missing = (f"#{expected_seq}" if record.chain_seq == expected_seq + 1
                       else f"#{expected_seq}..#{record.chain_seq - 1}")
            after = f" after {prev.record_key}" if prev else " at the start of the chain"
            return self._fail("missing", record, f"{missing} missing{after}: records were deleted")
        if record.chain_seq < expected_seq:
            return self._fail("reordered", record, f"position #{record.chain_seq} appears after #{prev.chain_seq if prev else '?'}")
        if prev and record.seq <= prev.seq:
            return self._fail("reordered", record, f"its ledger seq {record.seq} is not after seq {prev.seq} "
                                                   f"of {prev.record_key}, the record before it in the chain")
        expected_link = prev.hash if prev else self.anchor_hash
        if record.prev_hash != expected_link:
            return self._broken_link(record, prev)
        if self.check_signature is not None:
            reason = self.check_signature(record)
            if reason:
                return self._fail("signature", record, reason)

    def _broken_link(self, record: LedgerRecord, prev: LedgerRecord | None) -> None:
        target = self.lookup(record.prev_hash) if self.lookup else None
        if target is not None and target.record_key != record.record_key:
            where = "after" if target.chain_seq > record.chain_seq else "before"
            return self._fail("reordered", record,
                              f"it links to {target.record_key} (#{target.chain_seq}, stored {where} it), not to "
                              f"{prev.record_key if prev else 'the chain start'}: records were swapped or moved")
        expected = prev.record_key if prev else ("the chain start" if self.anchor_hash == GENESIS_HASH
                                                 else "the export's anchor hash")
        return self._fail("missing", record,
                          f"its prev_hash {record.prev_hash[:16]}… matches no record here; it should link to {expected}: "
                          "a record before it was deleted, or the record before it was altered and re-hashed")

    def finish(self, head: ChainHead | None = None) -> None:
        if head is None or self.broken:
            return
        last = self.previous
        last_seq = last.chain_seq if last else self.first_chain_seq - 1
        if head.last_chain_seq > last_seq:
            self._fail("missing", None, f"the chain head says #{head.last_chain_seq} ({head.last_hash[:16]}…) but the "
                                        f"last record found is #{last_seq}: the last records were deleted")
        elif head.last_chain_seq < last_seq:
            self._fail("missing", last, f"the chain head says the chain ends at #{head.last_chain_seq}, "
                                        f"yet records up to #{last_seq} exist: the head was rolled back or records were added behind the ledger's back")
        elif last is not None and head.last_hash != last.hash:
            self._fail("edited", last, f"the chain head hash {head.last_hash[:16]}… differs from the last record's "
                                       f"hash {last.hash[:16]}…")


def verify_records(records: Iterable[LedgerRecord], *, heads: Mapping[str, ChainHead | None] | None = None,
                   anchors: Mapping[str, tuple[int, str]] | None = None, lookup: Lookup | None = None,
                   check_signature: SignatureChecker | None = None,
                   report: VerifyReport | None = None) -> VerifyReport:
    """Walk records (in chain_seq order within each chain) and report the first problem per chain.

    `heads` (chain -> head) lets the walk notice records deleted from a chain's end. `anchors`
    (chain -> (first chain_seq, prev_hash of the first record)) verifies a slice of a chain, as in an
    inspection package; without one a chain must start at #1 and link to `GENESIS_HASH`.
    """
    report = report if report is not None else VerifyReport()
    walkers: dict[str, ChainWalker] = {}
    for record in records:
        walker = walkers.get(record.chain)
        if walker is None:
            first_seq, anchor = (anchors or {}).get(record.chain, (1, GENESIS_HASH))
            walker = walkers[record.chain] = ChainWalker(record.chain, report, anchor_hash=anchor,
                                                         first_chain_seq=first_seq, lookup=lookup,
                                                         check_signature=check_signature)
        walker.feed(record)
    for chain, head in (heads or {}).items():
        walker = walkers.get(chain) or ChainWalker(chain, report, lookup=lookup)
        walker.finish(head)
    return report
