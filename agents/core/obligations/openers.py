"""Openers: which obligations an event opens. The communication list of Art. 7 is here; the
compliance rules register theirs on the same registry."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator

from agents.core.agreements import Agreement, Duration
from agents.core.calendar import WorkingCalendar
from agents.core.obligations.model import _NAMESPACE_BYTES, Kind, ObligationSpec, as_utc, required_utc


Opener = Callable[[dict, Agreement, WorkingCalendar], "list[ObligationSpec]"]


class OpenerRegistry:
    """An ordered set of opener functions; ``@registry.register`` adds one."""

    def __init__(self, openers: Iterable[Opener] = ()):
        self._openers: list[Opener] = []
        for fn in openers:
            self.register(fn)

    def register(self, fn: Opener) -> Opener:
        if fn not in self._openers:
            self._openers.append(fn)
        return fn

    def __iter__(self) -> Iterator[Opener]:
        return iter(tuple(self._openers))

    def __len__(self) -> int:
        return len(self._openers)


# Art. 7: the event that opens an item of each category of the communication list.
ITEM_OPENING_EVENTS: dict[str, str] = {
    "deviation.reported": "deviation",
    "change.proposed": "change",
    "oos_oot.reported": "oos_oot",
    "qualification_validation.planned": "qualification_validation",
    "retention_stability.sample_retained": "retention_stability",
    "retention_stability.study_started": "retention_stability",
    "pharmacovigilance.request_sent": "pharmacovigilance",
    "regulatory_inspection.started": "regulatory_inspection",
    "regulatory_inspection.finding_reported": "regulatory_inspection",
    "adverse_credit.recorded": "adverse_credit",
}
# Who tells whom when the publisher is neither party (e.g. the bus): PV requests go holder -> CMO.
DEFAULT_NOTIFIER: dict[str, str] = {"pharmacovigilance": "HOLDER"}
# Events, besides "<category>.acknowledged", that show the other party has taken the item in.
ACKNOWLEDGING_EVENTS: dict[str, tuple[str, ...]] = {
    "change": ("change.approved", "change.rejected", "change.classified"),
    "pharmacovigilance": ("pharmacovigilance.investigation_reported",),
}
# Events, besides "<category>.closed", that close an item.
CLOSING_EVENTS: dict[str, tuple[str, ...]] = {
    "change": ("change.rejected", "change.withdrawn"),
    "qualification_validation": ("qualification_validation.report_approved",),
    "retention_stability": ("retention_stability.study_completed",),
    "regulatory_inspection": ("regulatory_inspection.capa_submitted",),
}
_COUNTERPART = {"HOLDER": "MANUFACTURER", "MANUFACTURER": "HOLDER"}


def _party_role(event: dict) -> str | None:
    source = event.get("source") or {}
    role = (source.get("party_role") or "").upper()
    return role or None


def _spec(kind: Kind, category: str, role: str, duration: Duration, starts_from: str, start: datetime,
          calendar: WorkingCalendar, rule: str, **kw: Any) -> ObligationSpec:
    due, note = duration.after(start, calendar)
    return ObligationSpec(kind=kind, category=category, responsible_party_role=role, due_at=due,
                          deadline=str(duration), starts_from=starts_from, start_at=start, rule=rule,
                          calendar_note=note, **kw)


def communication_list_opener(event: dict, agreement: Agreement, calendar: WorkingCalendar) -> list[ObligationSpec]:
    """Art. 7: an item-opening event of any category opens the communication list's timelines."""
    category = ITEM_OPENING_EVENTS.get(event.get("event_type", ""))
    if category is None:
        return []
    classification = event.get("classification") or None
    if classification == "UNKNOWN":
        classification = None
    timelines = agreement.timelines(category, classification)
    if timelines is None:
        return []
    published = required_utc(event.get("published_at"), "published_at")  # deadlines count from it
    occurred = as_utc(event.get("occurred_at")) or published
    publisher = _party_role(event)
    if publisher not in _COUNTERPART:
        publisher = DEFAULT_NOTIFIER.get(category, "MANUFACTURER")
    other = _COUNTERPART[publisher]
    common = {"classification": classification}
    specs: list[ObligationSpec] = []
    if timelines.notify is not None:
        # Art. 7 (and Art. 5 for deviations): tell the other party within the agreed time of
        # the thing happening; the opening event is that notification.
        specs.append(_spec(Kind.NOTIFY, category, publisher, timelines.notify, "occurred_at", occurred,
                           calendar, "Art. 7", satisfied_by_opening_event=True, **common))
    if timelines.acknowledge is not None:
        # Art. 7: the other party confirms receipt within the agreed time of publication.
        specs.append(_spec(Kind.ACKNOWLEDGE, category, other, timelines.acknowledge, "published_at", published,
                           calendar, "Art. 7",
                           satisfied_by=(f"{category}.acknowledged", *ACKNOWLEDGING_EVENTS.get(category, ())),
                           satisfier_role=other, **common))
    if timelines.decide is not None and category == "change" and publisher == "MANUFACTURER":
        # Art. 9: no change is implemented without the holder's approval; the holder decides in time.
        specs.append(_spec(Kind.APPROVE, category, "HOLDER", timelines.decide, "published_at", published,
                           calendar, "Art. 9", satisfied_by=("change.approved", "change.rejected"),
                           satisfier_role="HOLDER", **common))
    if timelines.close is not None:
        # Art. 7 (Art. 5 for deviations: "ensure closure of the risk"): the item is closed in time.
        specs.append(_spec(Kind.CLOSE, category, publisher, timelines.close, "occurred_at", occurred,
                           calendar, "Art. 5" if category == "deviation" else "Art. 7",
                           satisfied_by=(f"{category}.closed", *CLOSING_EVENTS.get(category, ())), **common))
    return specs


def default_openers() -> OpenerRegistry:
    """A fresh registry with the communication-list openers; rules add theirs with ``register``."""
    return OpenerRegistry([communication_list_opener])


def obligation_id(agreement_id: str, item_ref: str, kind: Kind | str, opened_by_event_id: str,
                  discriminator: str = "") -> str:
    """Deterministic, so replaying the opening event never opens a second obligation."""
    h = obligation_uuid(agreement_id, item_ref, kind, opened_by_event_id, discriminator).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def obligation_uuid(agreement_id: str, item_ref: str, kind: Kind | str, opened_by_event_id: str,
                    discriminator: str = "") -> bytes:
    """The 16 bytes of :func:`obligation_id` (a UUID version 5, as uuid.uuid5 makes it)."""
    kind = kind.value if isinstance(kind, Kind) else kind
    name = "|".join((agreement_id, item_ref, kind, opened_by_event_id, discriminator)).encode("utf-8")
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50   # version 5, as uuid.uuid5 sets it
    digest[8] = (digest[8] & 0x3F) | 0x80   # RFC 4122 variant
    return bytes(digest)


# -- the engine -------------------------------------------------------------------------------
