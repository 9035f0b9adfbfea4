"""A core partition's state and how a worker gets it: a checkpoint from the ledger plus the records
since, or (when there is none, or it does not check out) all the partition's records.

A checkpoint (`agents.core.pipeline_snapshot`) names the last ledger record it reflects, by seq,
key and hash. Before one is trusted the ledger must still hold that record, unchanged, and the
partition must still carry the same agreements; a damaged, stale or foreign checkpoint is named
in a warning and the state is rebuilt from the records instead. Checkpoints are written every few
minutes and at a clean stop, with the ledger position they cover, so a restart replays only the
tail: never the whole history.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from agents.core.obligations import SnapshotInvalid
from agents.core.pipeline import Pipeline
from agents.core.pipeline_snapshot import decode, encode
from agents.worker.rebuild import replayable
from streams.topics import partition_for

log = logging.getLogger(__name__)


@dataclass
class Partition:
    """One partition's state: its manufacturers' agreements, their pipeline, and the last ledger
    record it reflects (where its next checkpoint starts from)."""
    number: int
    agreement_ids: set[str]
    pipeline: Pipeline
    last_seq: int = 0
    last_key: str | None = None
    last_hash: str | None = None
    since_checkpoint: int = 0
    checkpointed_at: float = field(default_factory=time.monotonic)

    def saw(self, seq: int, key: str, record_hash: str) -> None:
        if seq >= self.last_seq:
            self.last_seq, self.last_key, self.last_hash = seq, key, record_hash
        self.since_checkpoint += 1


def checkpoint_name(topic: str, partitions: int, number: int) -> str:
    return f"core/{topic}/{partitions}/{number}"


def agreements_of(agreements, number: int, partitions: int) -> set[str]:
    """The agreements whose manufacturer's events are on this partition."""
    return {aid for aid in agreements.ids()
            if partition_for(agreements.latest(aid).manufacturer.id, partitions) == number}


def restore(ledger, agreements, schemas, topic: str, partitions: int, number: int) -> tuple[Partition, str]:
    """The partition's state, and how it was got (for the log). Blocking: run it off the loop."""
    ids = agreements_of(agreements, number, partitions)
    pipeline = Pipeline(agreements, schemas)
    part = Partition(number, ids, pipeline)
    since = 0
    checkpoint = ledger.load_checkpoint(checkpoint_name(topic, partitions, number))
    how = "from all its records (no checkpoint yet)"
    if checkpoint is not None:
        problem = _check(ledger, checkpoint, ids)
        if problem is None:
            try:
                header = decode(checkpoint.body, pipeline)
                since = int(header["upto_seq"])
                part.last_seq, part.last_key, part.last_hash = since, header.get("last_key"), header.get("last_hash")
                how = f"from the checkpoint of seq {since} and the records since"
            except SnapshotInvalid as exc:
                problem = str(exc)
        if problem is not None:
            log.warning("core: the checkpoint of partition %d is not used (%s); rebuilding it from the ledger's "
                        "records", number, problem)
            pipeline = part.pipeline = Pipeline(agreements, schemas)
            how = "from all its records (the checkpoint did not check out)"
    tail = list(ledger.iter(agreements=sorted(ids), since=since, kinds=["event"]))
    pipeline.replay(replayable(tail, schemas))
    if tail:
        part.last_seq, part.last_key, part.last_hash = tail[-1].seq, tail[-1].record_key, tail[-1].hash
    part.since_checkpoint = len(tail)
    return part, how


def _check(ledger, checkpoint, ids: set[str]) -> str | None:
    """Why a checkpoint must not be trusted, or None."""
    if not checkpoint.intact:
        return "its digest does not match its content"
    from agents.core.pipeline_snapshot import header_of

    try:
        header = header_of(checkpoint.body)
    except SnapshotInvalid as exc:
        return str(exc)
    if sorted(ids) != header.get("agreement_ids"):
        return "the partition carries other agreements now"
    upto = int(header.get("upto_seq") or 0)
    if upto != checkpoint.upto_seq:
        return "its header and its row disagree on the ledger position"
    if upto:
        found = ledger.by_seqs([upto])
        if not found or (found[0].record_key, found[0].hash) != (header.get("last_key"), header.get("last_hash")):
            return f"the ledger no longer holds record seq {upto} as the checkpoint saw it (stale or edited)"
    return None


def snapshot(part: Partition, topic: str, partitions: int) -> tuple[str, int, bytes]:
    """(name, upto_seq, body) of a checkpoint of the partition as it stands (take it between steps)."""
    header = {"partition": part.number, "partitions": partitions, "topic": topic, "upto_seq": part.last_seq,
              "last_key": part.last_key, "last_hash": part.last_hash, "agreement_ids": sorted(part.agreement_ids)}
    return checkpoint_name(topic, partitions, part.number), part.last_seq, encode(part.pipeline, header)
