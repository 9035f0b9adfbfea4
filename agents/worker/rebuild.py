"""Rebuilding a partition's state from the ledger: the records of its agreements, oldest first,
replayed through a fresh `Pipeline` (deciding nothing). Also what `qbus obligations` reads."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from agents.core.pipeline import Pipeline
from streams.validation import validate_event

log = logging.getLogger(__name__)


def replayable(records: Iterable, schemas=None) -> Iterator[dict]:
    """Ledger event records as the pipeline reads them (quality events normalized as on intake)."""
    from schemas import default_schemas

    schemas = schemas or default_schemas()
    for record in records:
        data = record.data
        if (data.get("event_type") or "").startswith("obligation."):
            yield data
            continue
        try:
            yield validate_event(data, schemas)[1]
        except Exception as exc:  # noqa: BLE001 - an old record that no longer validates is named, not fatal
            log.error("ledger record %s (%s) does not validate any more; left out of the rebuild: %s",
                      data.get("event_id"), data.get("event_type"), exc)


def rebuild_pipeline(ledger, agreements, schemas, agreement_ids: Iterable[str] | None = None) -> Pipeline:
    """A pipeline in the state the ledger's records of these agreements (default: all) leave it in."""
    pipeline = Pipeline(agreements, schemas)
    ids = sorted(agreement_ids) if agreement_ids is not None else None
    pipeline.replay(replayable(ledger.iter(agreements=ids, kinds=["event"]), schemas))
    return pipeline


def open_from_ledger(settings, agreements=None) -> list:
    """Open obligations as a worker would rebuild them (read-only): for `qbus obligations`."""
    from agents.record.ledger import open_ledger
    from agents.worker.bus import load_agreements
    from schemas import default_schemas

    agreements = agreements if agreements is not None else load_agreements(settings)
    with open_ledger(settings.ledger, create=False) as ledger:
        return rebuild_pipeline(ledger, agreements, default_schemas()).engine.open_obligations()
