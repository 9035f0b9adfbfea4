"""The inspection package: one agreement's records for a period, provable offline.

Art. 14 lets a holder replace part of its on-site audits with remote audits, and inspectors need a
complete, tamper-evident record. `export_package` writes into an empty folder:

- ``events.jsonl``: every event of the agreement recorded in the period (quality events and the
  bus's decisions: obligations, escalations, directives, findings, delivery receipts), one ledger
  record per line with all its columns (seq, chain position, prev_hash, hash, key id, signature)
  and the event itself as ``body``;
- ``dead_letters.jsonl``: what was refused for this agreement and why (only when there is some);
- ``keys.json``: the public keys that signed events in the package (when a key registry is given);
- ``report.html``: the human-readable report (zh/en), printable to PDF;
- ``manifest.json``: the range, counts, each file's SHA-256, the slice's anchors, the audience and
  what was withheld from it.

Audience. A ``holder`` package (the default) shows the holder what the bus showed it: a fan-out
notice published under the holder's agreement (co-line change, site-wide inspection outcome,
adverse credit record against the manufacturer) is written without its business-confidential
fields (Art. 8: "where business confidential information is involved, it may be omitted from the
notification"), by the rules of ``agents/core/redaction.py``: the fields the schema marks confidential
plus those the event lists in ``confidential_fields``, each set to its empty value so the event
still fits its schema. Such a line says which fields in ``redacted`` and keeps the record's stored
``hash`` and ``prev_hash``. Every dead letter of a holder package is written without the refused
message's raw bytes (``original_value`` and ``original_key`` set to null, marked the same way): a
refused co-line notice would otherwise hand the manufacturer's confidential fields to the holder. Its
reason, origin (topic, partition, offset), event_id, agreement_id and received_at stay: that is what
the holder needs to act. A ``full`` package (the manufacturer, or an inspector with full access)
carries the records as stored.

The agreement's hash chain makes the slice verifiable on its own: records are a contiguous run of
the chain (recorded_at never goes backwards in a chain), the first record's ``prev_hash`` is the
anchor stated in the manifest, each next record links to the one before, and the manifest states
the last hash and the chain head at export. `agents.record.verify_package` re-hashes the files, re-walks the
slice and re-checks signatures, with no access to the ledger. A redacted record's content hash
cannot be recomputed (its original fields are not in the package): the walk checks its place and
its links instead (its prev_hash is the previous record's hash, and the next record links to its
hash), so changing its hash still breaks the chain; `qbus ledger verify` on the full ledger checks
its content. Dead letters written without their raw bytes are checked the same way.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agents.record.bus_key import BusKey
from agents.record.package_seal import seal_package
from agents.core.visibility import DEAD_LETTER_WITHHELD, Viewer, shown_record
from schemas import SchemaSet, default_schemas
from streams.canonical import canonical_json, format_timestamp
from agents.record.ledger.base import Ledger
from agents.record.ledger.chain import (HASH_VERSION, LedgerRecord, chain_for)
from agents.record.ledger.report import render_report

PACKAGE_FORMAT = "qbus-inspection-package"
PACKAGE_VERSION = 1
DEFAULT_TIMEZONE = "Asia/Shanghai"
EVENTS_FILE, DEAD_LETTERS_FILE, KEYS_FILE = "events.jsonl", "dead_letters.jsonl", "keys.json"
REPORT_FILE, MANIFEST_FILE = "report.html", "manifest.json"
RECORD_FILES = {"event": EVENTS_FILE, "dead_letter": DEAD_LETTERS_FILE}
AUDIENCES = ("holder", "full")
REDACTED = "redacted"  # the JSON-line key listing the dotted paths removed from a record's body
REDACTION_BASIS = ("Art. 8: where business confidential information is involved, it may be omitted from the "
                   "notification. Fan-out notices (co-line changes, site-wide inspection outcomes, adverse credit "
                   "records against the manufacturer) are written without their business-confidential fields, as "
                   "the bus delivers them to holders.")
# A holder package's dead letters go without the refused message's raw bytes: they may carry a fan-out
# notice's business-confidential fields (a co-line notice refused for a missing risk conclusion, say).
DEAD_LETTER_REDACTION = "dead letters: raw bytes withheld"
DEAD_LETTER_BASIS = ("A refused message's raw bytes (original_value, original_key) may hold a fan-out notice's "
                     "business-confidential fields (Art. 8); the holder gets what it needs to act: the reason code "
                     "and text, where the message came from (topic, partition, offset), its event_id, the agreement "
                     "and when it was received.")


@dataclass(frozen=True)
class PackageSummary:
    out_dir: Path
    records: int
    events: int
    dead_letters: int
    manifest_sha256: str  # give this to the recipient by another channel: it pins the whole package
    ledger_ok: bool
    audience: str = "holder"
    redacted: int = 0     # events written without their business-confidential fields (Art. 8)
    dead_letters_withheld: int = 0  # dead letters written without the refused message's raw bytes


def tool_version() -> str:
    try:
        return metadata.version("qbus")
    except metadata.PackageNotFoundError:
        return "unknown"


def resolve_range(start: date | datetime, end: date | datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Dates are whole local days, both included; datetimes are instants (naive ones local), end excluded."""
    def instant(value: date | datetime, day_after: bool) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=tz)
        return datetime.combine(value + timedelta(days=1 if day_after else 0), time(0), tz)
    lower, upper = instant(start, False), instant(end, True)
    if upper <= lower:
        raise ValueError(f"empty period: {start} to {end}")
    return lower.astimezone(timezone.utc), upper.astimezone(timezone.utc)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def redact_record(record: LedgerRecord, holder_id: str, agreements: Any = None,
                  schemas: SchemaSet | None = None) -> tuple[LedgerRecord, list[str]]:
    """`record` as a holder package carries it, and the dotted paths whose values were removed.

    What the holder may see is decided by `agents.core.visibility` (the same rule as its inbox, the
    dashboard and the API): fan-out notices without their business-confidential fields, no other
    holder named, dead letters without the refused message's raw bytes. The record's columns, its
    ``hash`` and ``prev_hash`` included, stay as stored.
    """
    shown = shown_record(record.kind, record.data, Viewer.holder(holder_id), agreements, schemas)
    if not shown.redacted:
        return record, []
    return replace(record, body=canonical_json(shown.body)), list(shown.removed)


def export_package(ledger: Ledger, agreement_id: str, start: date | datetime, end: date | datetime,
                   out_dir: str | Path, *, tz: str | ZoneInfo = DEFAULT_TIMEZONE, keys=None,
                   now: datetime | None = None, audience: str = "holder",
                   schemas: SchemaSet | None = None, agreements: Any = None,
                   seal_with: BusKey | None = None) -> PackageSummary:
    """Write the inspection package of `agreement_id` for records recorded in [start, end) to `out_dir`.

    `keys` (a `streams.signing.KeyRegistry`) adds keys.json with the public keys that signed.
    `seal_with`: the bus's key, which signs the manifest (`agents.record.package_seal`); a package
    without a seal does not verify.
    `audience`: ``"holder"`` (default) shows the holder what `agents.core.visibility` lets it see
    (with `agreements` given, that includes removing other holders' names); ``"full"`` writes every
    record as stored (the manufacturer, an inspector with full access).
    """
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    schemas = schemas or default_schemas()
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    lower, upper = resolve_range(start, end, zone)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; an inspection package needs a folder of its own")
    out.mkdir(parents=True, exist_ok=True)
    generated_at = now or datetime.now(timezone.utc)
    chain = chain_for(agreement_id)
    ledger_check = ledger.verify(agreement_id)
    head = ledger.heads().get(chain)
    records = sorted(ledger.iter(agreement=agreement_id, since=lower, until=upper), key=lambda r: r.chain_seq)
    redactions: dict[str, list[str]] = {}
    if audience == "holder":
        holder_id = _holder_of(agreement_id, agreements, records)
        written = []
        for record in records:
            shown, removed = redact_record(record, holder_id, agreements, schemas)
            if removed:
                redactions[record.record_key] = removed
            written.append(shown)
        records = written
    kinds = {r.record_key: r.kind for r in records}
    withheld_events = sum(kinds[key] == "event" for key in redactions)
    withheld_letters = len(redactions) - withheld_events

    files: dict[str, dict[str, Any]] = {}
    for kind, name in RECORD_FILES.items():
        chosen = [r for r in records if r.kind == kind]
        if chosen or kind == "event":
            with (out / name).open("w", encoding="utf-8", newline="\n") as handle:
                for record in chosen:
                    line = record.to_export()
                    if record.record_key in redactions:
                        line[REDACTED] = redactions[record.record_key]
                    handle.write(canonical_json(line) + "\n")
            files[name] = {"records": len(chosen)}
    if keys is not None:
        used = {r.key_id for r in records if r.key_id}
        (out / KEYS_FILE).write_text(keys.subset(used).to_json(), encoding="utf-8")
        files[KEYS_FILE] = {}

    integrity = {
        "chain": chain, "records": len(records),
        "first_chain_seq": records[0].chain_seq if records else None,
        "last_chain_seq": records[-1].chain_seq if records else None,
        "anchor_prev_hash": records[0].prev_hash if records else None,
        "last_hash": records[-1].hash if records else None,
        "head_chain_seq": head.last_chain_seq if head else None, "head_hash": head.last_hash if head else None,
        "ledger_ok": ledger_check.ok, "ledger_summary": ledger_check.summary().splitlines()[0],
        "audience": audience, "redacted": withheld_events, "dead_letters_withheld": withheld_letters,
    }
    html = render_report(records, agreement_id=agreement_id, tz=zone, start=lower, end=upper,
                         generated_at=generated_at, integrity=integrity, withheld=set(redactions))
    (out / REPORT_FILE).write_text(html, encoding="utf-8")
    files[REPORT_FILE] = {}
    for name, entry in files.items():
        entry.update(sha256=sha256_file(out / name), bytes=(out / name).stat().st_size)

    manifest = {
        "format": PACKAGE_FORMAT, "format_version": PACKAGE_VERSION,
        "tool": {"name": "qbus", "version": tool_version()},
        "generated_at": format_timestamp(generated_at),
        "agreement_id": agreement_id,
        "range": {"from": format_timestamp(lower), "to": format_timestamp(upper), "timezone": str(zone),
                  "basis": "recorded_at", "end": "exclusive"},
        "records": {"total": len(records), "events": files[EVENTS_FILE]["records"],
                    "dead_letters": files.get(DEAD_LETTERS_FILE, {}).get("records", 0)},
        "chain": {"chain": chain, "hash_algorithm": "sha256", "record_hash_version": HASH_VERSION, "record_hash_versions_read": [1, 2],
                  "first_chain_seq": integrity["first_chain_seq"], "last_chain_seq": integrity["last_chain_seq"],
                  "anchor_prev_hash": integrity["anchor_prev_hash"], "last_hash": integrity["last_hash"],
                  "head_at_export": {"chain_seq": integrity["head_chain_seq"], "hash": integrity["head_hash"]}},
        "ledger_verified_at_export": {"ok": ledger_check.ok, "summary": ledger_check.summary()},
        "audience": audience,
        "redaction": _redaction_manifest(audience, records, redactions),
        "files": dict(sorted(files.items())),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    (out / MANIFEST_FILE).write_text(text, encoding="utf-8")
    if seal_with is not None:
        seal_package(out, seal_with)
    return PackageSummary(out, len(records), manifest["records"]["events"], manifest["records"]["dead_letters"],
                          hashlib.sha256(text.encode("utf-8")).hexdigest(), ledger_check.ok, audience,
                          withheld_events, withheld_letters)


def _redaction_manifest(audience: str, records: list[LedgerRecord], redactions: dict[str, list[str]]) -> dict:
    """What the audience does not see, and why: counts per field and the records concerned.

    Events and dead letters are counted apart: ``records``, ``fields`` and ``redacted_records`` are
    the events; ``dead_letters`` the dead letters written without their raw bytes.
    """
    if audience == "full":
        return {"records": 0, "note": "full package: every record as stored in the ledger, nothing withheld"}
    events = [r for r in records if r.record_key in redactions and r.kind == "event"]
    letters = [r for r in records if r.record_key in redactions and r.kind == "dead_letter"]
    fields: dict[str, int] = {}
    for record in events:
        for path in redactions[record.record_key]:
            fields[path] = fields.get(path, 0) + 1
    return {
        "records": len(events), "basis": REDACTION_BASIS, "fields": dict(sorted(fields.items())),
        "redacted_records": [{"record_key": r.record_key, "chain_seq": r.chain_seq, "event_type": r.event_type,
                              "paths": redactions[r.record_key]} for r in events],
        "dead_letters": {
            "records": len(letters), "what": DEAD_LETTER_REDACTION, "basis": DEAD_LETTER_BASIS,
            "fields": list(DEAD_LETTER_WITHHELD),
            "redacted_records": [{"record_key": r.record_key, "chain_seq": r.chain_seq,
                                  "paths": redactions[r.record_key]} for r in letters],
        },
        "verification": "the content hash of these records (events and dead letters) cannot be recomputed from the "
                        "package; the chain links around them are checked, the files' SHA-256 pins what they show, "
                        "and `qbus ledger verify` on the full ledger checks their content",
    }


def _holder_of(agreement_id: str, agreements: Any, records: list[LedgerRecord]) -> str:
    """The holder of the agreement: from the agreements, else from the records themselves."""
    if agreements is not None:
        agreement = agreements.latest(agreement_id)
        if agreement is not None:
            return agreement.holder.id
    for record in records:
        if record.kind == "event":
            holder = record.data.get("holder_id")
            if holder:
                return str(holder)
    return ""
