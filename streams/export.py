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
- ``manifest.json``: the range, counts, each file's SHA-256, and the slice's anchors.

The agreement's hash chain makes the slice verifiable on its own: records are a contiguous run of
the chain (recorded_at never goes backwards in a chain), the first record's ``prev_hash`` is the
anchor stated in the manifest, each next record links to the one before, and the manifest states
the last hash and the chain head at export. `verify_package` re-hashes the files, re-walks the
slice and re-checks signatures, with no access to the ledger.
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

from streams.canonical import canonical_json, format_timestamp, parse_timestamp
from streams.ledger.base import Ledger, signature_checker
from streams.ledger.chain import GENESIS_HASH, LedgerRecord, Problem, VerifyReport, chain_for, verify_records
from streams.ledger.report import render_report

PACKAGE_FORMAT = "qbus-inspection-package"
PACKAGE_VERSION = 1
DEFAULT_TIMEZONE = "Asia/Shanghai"
EVENTS_FILE, DEAD_LETTERS_FILE, KEYS_FILE = "events.jsonl", "dead_letters.jsonl", "keys.json"
REPORT_FILE, MANIFEST_FILE = "report.html", "manifest.json"
RECORD_FILES = {"event": EVENTS_FILE, "dead_letter": DEAD_LETTERS_FILE}


@dataclass(frozen=True)
class PackageSummary:
    out_dir: Path
    records: int
    events: int
    dead_letters: int
    manifest_sha256: str  # give this to the recipient by another channel: it pins the whole package
    ledger_ok: bool


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


def export_package(ledger: Ledger, agreement_id: str, start: date | datetime, end: date | datetime,
                   out_dir: str | Path, *, tz: str | ZoneInfo = DEFAULT_TIMEZONE, keys=None,
                   now: datetime | None = None) -> PackageSummary:
    """Write the inspection package of `agreement_id` for records recorded in [start, end) to `out_dir`.

    `keys` (a `streams.signing.KeyRegistry`) adds keys.json with the public keys that signed.
    """
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

    files: dict[str, dict[str, Any]] = {}
    for kind, name in RECORD_FILES.items():
        chosen = [r for r in records if r.kind == kind]
        if chosen or kind == "event":
            with (out / name).open("w", encoding="utf-8", newline="\n") as handle:
                for record in chosen:
                    handle.write(canonical_json(record.to_export()) + "\n")
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
    }
    html = render_report(records, agreement_id=agreement_id, tz=zone, start=lower, end=upper,
                         generated_at=generated_at, integrity=integrity)
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
        "chain": {"chain": chain, "hash_algorithm": "sha256", "record_hash_version": 1,
                  "first_chain_seq": integrity["first_chain_seq"], "last_chain_seq": integrity["last_chain_seq"],
                  "anchor_prev_hash": integrity["anchor_prev_hash"], "last_hash": integrity["last_hash"],
                  "head_at_export": {"chain_seq": integrity["head_chain_seq"], "hash": integrity["head_hash"]}},
        "ledger_verified_at_export": {"ok": ledger_check.ok, "summary": ledger_check.summary()},
        "files": dict(sorted(files.items())),
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    (out / MANIFEST_FILE).write_text(text, encoding="utf-8")
    return PackageSummary(out, len(records), manifest["records"]["events"], manifest["records"]["dead_letters"],
                          hashlib.sha256(text.encode("utf-8")).hexdigest(), ledger_check.ok)


def _read_records(path: Path, report: VerifyReport) -> list[LedgerRecord]:
    records = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            try:
                records.append(LedgerRecord.from_export(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                report.problems.append(Problem("edited", f"line {number} is not a ledger record: {exc}", file=path.name))
    return records


def verify_package(directory: str | Path, *, keys=None) -> VerifyReport:
    """Check an inspection package offline: file hashes, counts, range, and the chain of its records.

    Signatures are re-checked against `keys`, or else the package's own keys.json when it has one.
    """
    folder = Path(directory)
    report = VerifyReport()
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        report.problems.append(Problem("manifest", f"cannot read the manifest: {exc}", file=MANIFEST_FILE))
        return report
    if manifest.get("format") != PACKAGE_FORMAT:
        report.problems.append(Problem("manifest", f"not a {PACKAGE_FORMAT} (format {manifest.get('format')!r})",
                                       file=MANIFEST_FILE))
        return report
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            report.problems.append(Problem("missing", "listed in the manifest but not in the package", file=name))
        elif sha256_file(path) != entry.get("sha256"):
            report.problems.append(Problem("edited", "its SHA-256 does not match the manifest: the file was "
                                                     "changed after export", file=name))
    unlisted = sorted(p.name for p in folder.iterdir() if p.name not in manifest.get("files", {}) and p.name != MANIFEST_FILE)
    if unlisted:
        report.notes.append(f"files not covered by the manifest (ignored): {', '.join(unlisted)}")

    records: list[LedgerRecord] = []
    origin: dict[str, str] = {}
    for kind, name in RECORD_FILES.items():
        if (folder / name).is_file():
            found = _read_records(folder / name, report)
            origin.update((r.record_key, name) for r in found)
            expected = manifest.get("files", {}).get(name, {}).get("records")
            if expected is not None and expected != len(found):
                report.problems.append(Problem("missing", f"{len(found)} records, the manifest says {expected}", file=name))
            records += found
    records.sort(key=lambda r: r.chain_seq)
    _check_scope(manifest, records, origin, report)

    chain = manifest["chain"]
    if keys is None and (folder / KEYS_FILE).is_file():
        from streams.signing import KeyRegistry
        keys = KeyRegistry.load(folder / KEYS_FILE)
    by_hash = {r.hash: r for r in records}
    before = len(report.problems)
    verify_records(records, anchors={chain["chain"]: (chain.get("first_chain_seq") or 1,
                                                      chain.get("anchor_prev_hash") or GENESIS_HASH)},
                   lookup=by_hash.get, check_signature=signature_checker(keys) if keys is not None else None,
                   report=report)
    report.problems[before:] = [replace(p, file=origin.get(p.record_key)) for p in report.problems[before:]]
    last = records[-1] if records else None
    if (last.hash if last else None) != chain.get("last_hash") or (last.chain_seq if last else None) != chain.get("last_chain_seq"):
        report.problems.append(Problem("missing", f"the package ends at #{last.chain_seq if last else '—'} "
                                                  f"but the manifest says #{chain.get('last_chain_seq')} "
                                                  f"({str(chain.get('last_hash'))[:16]}…): records were removed from the end",
                                       chain=chain["chain"], file=origin.get(last.record_key) if last else EVENTS_FILE))
    return report


def _check_scope(manifest: dict, records: list[LedgerRecord], origin: dict[str, str], report: VerifyReport) -> None:
    """Every record belongs to the manifest's agreement and period."""
    agreement = manifest.get("agreement_id")
    lower, upper = parse_timestamp(manifest["range"]["from"]), parse_timestamp(manifest["range"]["to"])
    for record in records:
        if record.agreement_id != agreement or record.chain != manifest["chain"]["chain"]:
            report.problems.append(Problem("range", f"belongs to agreement {record.agreement_id}, not {agreement}",
                                           record.chain, record.seq, record.chain_seq, record.record_key,
                                           origin.get(record.record_key)))
        elif not lower <= record.recorded_at < upper:
            report.problems.append(Problem("range", f"recorded {format_timestamp(record.recorded_at)}, outside the "
                                                    "package's period", record.chain, record.seq, record.chain_seq,
                                           record.record_key, origin.get(record.record_key)))
