"""What a review summarises, in the terms an inspector checks (Art. 14), like the inspection package.

The figures of a review are counted from one agreement's whole hash chain as it stood when the
review was made: records 1 to N, anchored at the genesis hash and ending at record N's hash. The
review states that range, the slice of records recorded within the period (what `qbus export`
of the same period would ship), the chain head and the ledger's own verification at that moment,
and the chain positions that its figures cite, each listed in the drill-down tables with its hash.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.core.quality_metrics import MetricsFold, Period, QualityMetrics
from agents.record.ledger.chain import HASH_VERSION, chain_for


@dataclass
class _Slice:
    records: int = 0
    first_chain_seq: int | None = None
    last_chain_seq: int | None = None
    anchor_prev_hash: str | None = None
    last_hash: str | None = None

    def add(self, record) -> None:
        if self.first_chain_seq is None:
            self.first_chain_seq, self.anchor_prev_hash = record.chain_seq, record.prev_hash
        self.records += 1
        self.last_chain_seq, self.last_hash = record.chain_seq, record.hash

    def to_json(self) -> dict[str, Any]:
        return {"records": self.records, "first_chain_seq": self.first_chain_seq, "last_chain_seq": self.last_chain_seq,
                "anchor_prev_hash": self.anchor_prev_hash, "last_hash": self.last_hash}


@dataclass
class ChainRead:
    """One agreement's chain as read for a review: the whole of it, and the part recorded in the period."""
    chain: str
    whole: _Slice = field(default_factory=_Slice)
    in_period: _Slice = field(default_factory=_Slice)


def read_agreement(ledger, agreement_id: str, period: Period) -> tuple[MetricsFold, ChainRead]:
    """Fold one agreement's whole chain, noting its range and the slice recorded within `period`."""
    fold = MetricsFold()
    read = ChainRead(chain_for(agreement_id))
    for record in sorted(ledger.iter(agreement=agreement_id), key=lambda r: r.chain_seq):
        fold.apply(record)
        read.whole.add(record)
        if period.contains(record.recorded_at):
            read.in_period.add(record)
    return fold, read


def verification_data(ledger, agreement_id: str, read: ChainRead, metrics: QualityMetrics) -> dict[str, Any]:
    """The review's verification section: ranges, hashes, the head and the ledger's own check."""
    check = ledger.verify(agreement_id)
    head = ledger.heads().get(read.chain)
    cited = sorted(seq for agreement, seq in metrics.records() if agreement == agreement_id)
    return {
        "chain": read.chain, "hash_algorithm": "sha256", "record_hash_version": HASH_VERSION, "record_hash_versions_read": [1, 2],
        "records_read": read.whole.to_json(),
        "recorded_in_period": read.in_period.to_json(),
        "cited": {"records": len(cited), "first_chain_seq": cited[0] if cited else None,
                  "last_chain_seq": cited[-1] if cited else None},
        "head_at_generation": {"chain_seq": head.last_chain_seq if head else None,
                               "hash": head.last_hash if head else None},
        "ledger_verified": {"ok": check.ok, "summary": check.summary().splitlines()[0]},
        "how_to_check": ("qbus ledger verify --agreement A checks the chain; qbus export of the period ships the "
                         "records recorded in it; every figure's records are listed with their chain position and hash"),
    }
