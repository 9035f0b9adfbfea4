"""The ledger's bookkeeping beside its records: stage positions, checkpoints, sent notifications,
and the state of one event as a publisher asks for it.

These tables are updated (they say where the worker has got to); the records stay append-only.
A stage's position is written in the same transaction as the records its step produced (see
`Ledger.append`), so whoever takes a partition over continues exactly after the last committed
step and sends again only that step's output (sends after a commit are at least once).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agents.record.ledger.chain import LedgerRecord


@dataclass(frozen=True)
class Position:
    """Where a stage stands on one topic partition.

    ``next_offset`` is the first offset not yet processed; ``last_key`` identifies the record at
    ``next_offset - 1`` (so a topic that was deleted and re-created, as a restarted memory broker's
    are, is recognised: its offsets start again). ``items`` (on append) are the indices, in the
    appended batch, of the records this partition's step produced; the ledger stores their seqs as
    ``last_seqs`` for re-sending after a crash.
    """
    stage: str
    topic: str
    partition: int
    next_offset: int
    last_key: str | None = None
    items: tuple[int, ...] = ()
    last_seqs: tuple[int, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Checkpoint:
    name: str
    upto_seq: int
    created_at: datetime
    sha256: str
    body: bytes

    @property
    def intact(self) -> bool:
        return hashlib.sha256(self.body).hexdigest() == self.sha256


@dataclass(frozen=True)
class EventState:
    """What the ledger knows of one event_id: ``recorded`` (with its record), ``dead_lettered``
    (with the dead letters that refused it, newest last), or ``unknown``."""
    event_id: str
    status: str
    record: LedgerRecord | None = None
    dead_letters: tuple[LedgerRecord, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_id": self.event_id, "status": self.status}
        if self.record is not None:
            out["ledger"] = {"chain": self.record.chain, "chain_seq": self.record.chain_seq, "hash": self.record.hash,
                             "recorded_at": self.record.to_export()["recorded_at"],
                             "event_type": self.record.event_type}
        if self.dead_letters:
            letters = [json.loads(r.body) for r in self.dead_letters]
            out["dead_letters"] = [{"reason_code": d.get("reason_code"), "reason": d.get("reason"),
                                    "received_at": d.get("received_at"), "dead_letter_id": d.get("dead_letter_id")}
                                   for d in letters]
            out["reason_code"], out["reason"] = letters[-1].get("reason_code"), letters[-1].get("reason")
        return out


def seqs_json(seqs: tuple[int, ...]) -> str:
    return json.dumps(list(seqs), separators=(",", ":"))


def position_seqs(position: Position, results: list) -> tuple[int, ...]:
    """The seqs of the records a position's step appended (duplicates of earlier steps are not re-sent)."""
    return tuple(results[i].seq for i in position.items if results[i].status == "appended")


def checkpoint_of(name: str, upto_seq: int, created_at: datetime, body: bytes) -> Checkpoint:
    return Checkpoint(name, upto_seq, created_at, hashlib.sha256(body).hexdigest(), body)
