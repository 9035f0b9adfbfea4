"""The human-readable inspection report (report.html): per product, the communication list, each
item's timeline, its obligations and their outcome, breaches, escalations, and who acknowledged or
approved what and when. Built from ledger records only, so it says nothing the package cannot prove.

Art. 14 allows a holder to replace part of its on-site audits with remote audits; this page is what
the remote auditor reads (and prints: the CSS has an @media print section, one product per page).
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from streams.canonical import parse_timestamp
from agents.record.ledger.chain import LedgerRecord
from agents.record.ledger.labels import (ART7_CATEGORIES, AUDIENCE_LABELS, BUS_CATEGORIES, BYTES_WITHHELD, CATEGORY_LABELS,
                                   CLASSIFICATION_LABELS, OBLIGATION_KIND_LABELS, ROLE_LABELS, SIGN_OFF_ACTIONS, UI,
                                   WITHHELD, both, event_label)

ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
MAX_DETAILS = 10
MAX_TEXT = 240


@dataclass
class EventRow:
    time: str
    event_type: str
    label: str
    who: str
    signed: str | None
    details: list[tuple[str, str]]
    record_key: str
    item_ref: str | None
    recorded: str = ""
    sort_key: tuple = ()
    corrects: str | None = None
    corrected_by: list[str] = field(default_factory=list)
    withheld: bool = False  # written without its business-confidential fields (Art. 8)


@dataclass
class ObligationRow:
    what: str
    owner: str
    due: str
    opened: str
    outcome: str = "未完成 open"
    outcome_class: str = "open"
    escalations: int = 0


@dataclass
class ItemView:
    item_ref: str
    category: str
    classification: str | None = None
    batch_no: str | None = None
    status: str = ""
    events: list[EventRow] = field(default_factory=list)
    obligations: dict[str, ObligationRow] = field(default_factory=dict)


@dataclass
class CategoryView:
    name: str
    label: str
    items: list[ItemView]

    @property
    def events(self) -> int:
        return sum(len(i.events) for i in self.items)

    @property
    def breaches(self) -> int:
        return sum(o.outcome_class == "breach" for i in self.items for o in i.obligations.values())


@dataclass
class ProductView:
    code: str
    generic_name: str = ""
    dosage_form: str = ""
    sterile: bool | None = None
    items: dict[str, ItemView] = field(default_factory=dict)
    breaches: list[EventRow] = field(default_factory=list)
    escalations: list[EventRow] = field(default_factory=list)
    directives: list[EventRow] = field(default_factory=list)
    sign_offs: list[EventRow] = field(default_factory=list)

    def categories(self) -> list[CategoryView]:
        """Every Art. 7 category (even when empty), then the other categories present."""
        by_category: dict[str, list[ItemView]] = defaultdict(list)
        for item in self.items.values():
            by_category[item.category].append(item)
        others = sorted(c for c in by_category if c not in ART7_CATEGORIES)
        return [CategoryView(c, both(CATEGORY_LABELS, c), by_category.get(c, [])) for c in (*ART7_CATEGORIES, *others)]


class LocalTime:
    def __init__(self, tz: ZoneInfo):
        self.tz = tz

    def __call__(self, value: Any) -> str:
        if value is None or value == "":
            return "—"
        try:
            moment = value if isinstance(value, datetime) else parse_timestamp(str(value))
        except ValueError:
            return str(value)
        return moment.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def offset(self, at: datetime) -> str:
        text = at.astimezone(self.tz).strftime("%z")
        return f"UTC{text[:3]}:{text[3:]}"


def _first(payload: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if payload.get(name) not in (None, ""):
            return payload[name]
    return None


def _text(value: Any, local: LocalTime) -> str:
    if isinstance(value, str) and ISO_INSTANT.match(value):
        return local(value)
    if isinstance(value, bool):
        return "是 yes" if value else "否 no"
    if isinstance(value, list):
        value = ", ".join(_text(v, local) for v in value if not isinstance(v, (dict, list)))
    elif isinstance(value, dict):
        value = ", ".join(f"{k}: {_text(v, local)}" for k, v in value.items() if not isinstance(v, (dict, list)))
    text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


def _who(event: Mapping[str, Any]) -> str:
    source = event.get("source") or {}
    parts = [both(ROLE_LABELS, source.get("party_role") or "UNKNOWN")]
    parts += [p for p in (source.get("party_id"), source.get("user")) if p]
    who = " · ".join(parts)
    return f"{who} ({source['instance']})" if source.get("instance") else who


def _row(record: LedgerRecord, event: Mapping[str, Any], local: LocalTime) -> EventRow:
    payload = event.get("payload") or {}
    details = [(k, _text(v, local)) for k, v in payload.items() if v not in (None, "", [], {})][:MAX_DETAILS]
    occurred = record.occurred_at or record.recorded_at
    return EventRow(local(occurred), record.event_type or "", event_label(record.event_type), _who(event),
                    record.key_id, details, record.record_key, record.item_ref, local(record.recorded_at),
                    (occurred, record.chain_seq), record.corrects_key)


class ReportBuilder:
    def __init__(self, tz: ZoneInfo, withheld: Iterable[str] = ()):
        self.local = LocalTime(tz)
        self.withheld = frozenset(withheld)
        self.products: dict[str, ProductView] = {}
        self.rows: dict[str, EventRow] = {}
        self.dead_letters: list[dict] = []
        self.parties: dict[str, str] = {}

    def add(self, record: LedgerRecord) -> None:
        data = record.data
        if record.kind == "dead_letter":
            origin = f"{data.get('original_topic')}[{data.get('original_partition')}]@{data.get('original_offset')}"
            self.dead_letters.append({"time": self.local(data.get("received_at")), "code": data.get("reason_code"),
                                      "reason": data.get("reason"), "origin": origin, "event_id": data.get("event_id"),
                                      "record_key": record.record_key,
                                      "withheld": record.record_key in self.withheld})
            return
        self.parties.setdefault("holder", data.get("holder_id") or "")
        self.parties.setdefault("manufacturer", data.get("manufacturer_id") or "")
        product = data.get("product") or {}
        view = self.products.get(product.get("code") or "—")
        if view is None:
            view = self.products[product.get("code") or "—"] = ProductView(
                product.get("code") or "—", product.get("generic_name") or "", product.get("dosage_form") or "",
                product.get("sterile"))
        row = _row(record, data, self.local)
        row.withheld = record.record_key in self.withheld
        self.rows[record.record_key] = row
        if record.corrects_key and record.corrects_key in self.rows:
            self.rows[record.corrects_key].corrected_by.append(record.record_key)
        category, _, action = (record.event_type or "").partition(".")
        item = view.items.get(record.item_ref or "—")
        if item is None:
            item = view.items[record.item_ref or "—"] = ItemView(record.item_ref or "—", category)
        elif item.category in BUS_CATEGORIES and category not in BUS_CATEGORIES:
            item.category = category
        item.events.append(row)
        if category not in BUS_CATEGORIES:
            item.status = row.label
            item.classification = both(CLASSIFICATION_LABELS, data.get("classification")) if data.get("classification") \
                else item.classification
            item.batch_no = data.get("batch_no") or item.batch_no
        if category == "obligation":
            self._obligation(view, item, action, data, row)
        elif category == "escalation":
            view.escalations.append(row)
            key = str(_first(data.get("payload") or {}, "obligation_id") or "")
            if key in item.obligations:
                item.obligations[key].escalations += 1
        elif category in ("directive", "finding") or (category == "production" and action == "suspended"):
            view.directives.append(row)
        if action in SIGN_OFF_ACTIONS and category != "obligation":
            view.sign_offs.append(row)

    def _obligation(self, view: ProductView, item: ItemView, action: str, event: Mapping[str, Any], row: EventRow) -> None:
        payload = event.get("payload") or {}
        kind = _first(payload, "kind", "action", "obligation_type") or ""
        key = str(_first(payload, "obligation_id", "id") or f"{item.item_ref}/{kind}")
        obligation = item.obligations.get(key)
        if obligation is None:
            role = _first(payload, "responsible_role", "responsible_party_role", "owner", "party_role", "role")
            party = _first(payload, "responsible_party_id", "party_id")
            owner = " · ".join(p for p in (both(ROLE_LABELS, role) if role else None, party) if p) or "—"
            what = " — ".join(str(p) for p in (both(OBLIGATION_KIND_LABELS, str(kind).upper()) if kind else None,
                                               payload.get("description")) if p) or "—"
            obligation = item.obligations[key] = ObligationRow(
                what, owner, self.local(_first(payload, "due_at", "deadline", "due")), row.time)
        if action == "satisfied":
            obligation.outcome, obligation.outcome_class = f"已履行 satisfied {row.time}", "ok"
        elif action == "breached":
            obligation.outcome, obligation.outcome_class = f"逾期未履行 breached {row.time}", "breach"
            view.breaches.append(row)
        elif action == "cancelled":
            obligation.outcome, obligation.outcome_class = f"取消 cancelled {row.time}", "ok"


def render_report(records: Iterable[LedgerRecord], *, agreement_id: str, tz: ZoneInfo, start: datetime, end: datetime,
                  generated_at: datetime, integrity: Mapping[str, Any], withheld: Iterable[str] = ()) -> str:
    """`withheld`: record keys of events written without their business-confidential fields (Art. 8) and of
    dead letters written without the refused message's raw bytes."""
    builder = ReportBuilder(tz, withheld)
    for record in records:
        builder.add(record)
    for product in builder.products.values():
        for item in product.items.values():
            item.events.sort(key=lambda row: row.sort_key)  # a timeline runs in the order things happened
    env = Environment(loader=PackageLoader("agents.record.ledger", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined)
    env.globals.update(ui={k: f"{zh} {en}" for k, (zh, en) in UI.items()}, local=builder.local, withheld=WITHHELD,
                       bytes_withheld=BYTES_WITHHELD,
                       audiences={k: f"{zh} {en}" for k, (zh, en) in AUDIENCE_LABELS.items()})
    return env.get_template("inspection_report.html").render(
        agreement_id=agreement_id, holder=builder.parties.get("holder"), manufacturer=builder.parties.get("manufacturer"),
        tz=str(tz), offset=builder.local.offset(start), start=start, end=end, generated_at=generated_at,
        products=sorted(builder.products.values(), key=lambda p: p.code), dead_letters=builder.dead_letters,
        integrity=integrity)
