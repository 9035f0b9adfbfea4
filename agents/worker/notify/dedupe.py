"""Which deliveries (and acknowledgements) already happened, so a restarted worker pages nobody twice.

The worker keeps them in the shared ledger (`LedgerDedupeStore`), not in a file per host.

The dispatcher marks a delivery key only after the channel confirmed it. A crash between the
confirmation and the mark can still repeat one delivery; the receivers dedupe that too
(Idempotency-Key header, PagerDuty dedup_key, Alertmanager label identity, Message-ID).
"""

from __future__ import annotations

from typing import Protocol


class DedupeStore(Protocol):
    def seen(self, key: str) -> bool: ...

    def mark(self, key: str) -> None: ...


class InMemoryDedupeStore:
    """For tests and single-shot tools; forgets everything on restart."""

    def __init__(self) -> None:
        self._keys: set[str] = set()

    def seen(self, key: str) -> bool:
        return key in self._keys

    def mark(self, key: str) -> None:
        self._keys.add(key)


class LedgerDedupeStore:
    """Keys in the ledger's ``notify_sent`` table: shared by every worker on every host that shares
    the ledger, so a rebalance or a restart pages nobody twice."""

    def __init__(self, ledger) -> None:
        self.ledger = ledger

    def seen(self, key: str) -> bool:
        return self.ledger.was_sent(key)

    def mark(self, key: str) -> None:
        self.ledger.mark_sent(key)
