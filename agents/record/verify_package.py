"""Checking an inspection package offline (`verify_package`): file hashes, the bus's seal, counts,
range, redaction marks and the chain of its records — with no access to the ledger.
The package itself is written by `agents.record.export`."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from agents.core.redaction import remove_paths
from agents.record.export import (DEAD_LETTER_WITHHELD, EVENTS_FILE, KEYS_FILE, MANIFEST_FILE, PACKAGE_FORMAT,
                                  RECORD_FILES, REDACTED, sha256_file)
from agents.record.ledger.base import signature_checker
from agents.record.package_seal import SEAL_FILE, check_seal
from agents.record.ledger.chain import GENESIS_HASH, ChainWalker, LedgerRecord, Problem, VerifyReport, compute_hash
from schemas import SchemaSet, default_schemas
from streams.canonical import canonical_json, format_timestamp, parse_timestamp


def _read_records(path: Path, report: VerifyReport, marks: dict[str, Any]) -> list[LedgerRecord]:
    """The records of a JSON Lines file; `marks` gets the ``redacted`` list of each line that has one."""
    records = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            try:
                obj = json.loads(line)
                record = LedgerRecord.from_export(obj)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                report.problems.append(Problem("edited", f"line {number} is not a ledger record: {exc}", file=path.name))
                continue
            records.append(record)
            if REDACTED in obj:
                marks[record.record_key] = obj[REDACTED]
    return records


class _PackageWalker(ChainWalker):
    """The chain walk of a package, where a redacted record is checked for its place and links only.

    Its original fields are not in the package, so its stored hash cannot be recomputed nor its
    signature re-checked. A stand-in carrying the recomputed hash passes the content check, and every
    other check (position, order, the link to the record before) runs on the record's own columns;
    the walker then keeps the record itself, stored hash included, for the next record's link. So a
    changed hash on a redacted record breaks the link to the record after it (or the manifest's last hash).
    """

    def __init__(self, *args, redacted: frozenset[str] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        self.redacted = redacted

    def _check(self, record: LedgerRecord) -> None:
        if record.record_key not in self.redacted:
            return super()._check(record)
        check, self.check_signature = self.check_signature, None
        try:
            return super()._check(replace(record, hash=compute_hash(record)))
        finally:
            self.check_signature = check


def _walk_package(records: list[LedgerRecord], anchors: dict[str, tuple[int, str]], redacted: frozenset[str],
                  lookup, check_signature, report: VerifyReport) -> None:
    walkers: dict[str, _PackageWalker] = {}
    for record in records:
        walker = walkers.get(record.chain)
        if walker is None:
            first_seq, anchor = anchors.get(record.chain, (1, GENESIS_HASH))
            walker = walkers[record.chain] = _PackageWalker(
                record.chain, report, anchor_hash=anchor, first_chain_seq=first_seq, lookup=lookup,
                check_signature=check_signature, redacted=redacted)
        walker.feed(record)


def _check_redactions(manifest: dict, records: list[LedgerRecord], marks: dict[str, Any], origin: dict[str, str],
                      report: VerifyReport, schemas: SchemaSet) -> frozenset[str]:
    """The marked records that are redactions the manifest states and the rules allow; the others are problems.

    A mark is accepted only where the manifest lists the same record with the same fields, the
    package is a holder package, and the fields are business-confidential fields of that event
    (Art. 8) now empty: marking another record "redacted" does not excuse it from the hash check.
    A dead letter's mark is accepted where the manifest lists it among its dead letters and the marked
    fields are its raw bytes (``original_value``, ``original_key``), now null.
    """
    audience = manifest.get("audience", "full")  # packages from before audiences carried records as stored
    redaction = manifest.get("redaction") or {}
    letters = redaction.get("dead_letters") if isinstance(redaction.get("dead_letters"), dict) else {}
    listed_by_kind: dict[str, dict[str, Any]] = {}
    for kind, section, what in (("event", redaction, "records"), ("dead_letter", letters, "dead letters")):
        listed_by_kind[kind] = {str(r.get("record_key")): r.get("paths") for r in section.get("redacted_records") or ()
                                if isinstance(r, dict)}
        count = len(listed_by_kind[kind])
        if section.get("records", count) != count:
            report.problems.append(Problem("manifest", f"the manifest says {section.get('records')} {what} were "
                                                       f"redacted but lists {count}", file=MANIFEST_FILE))
    listed = {**listed_by_kind["event"], **listed_by_kind["dead_letter"]}
    by_key = {r.record_key: r for r in records}
    accepted = set()
    for key, paths in marks.items():
        record = by_key[key]
        mine = listed_by_kind.get(record.kind, {})

        def problem(detail: str) -> None:
            report.problems.append(Problem("edited", detail, record.chain, record.seq, record.chain_seq, key,
                                           origin.get(key)))
        if audience != "holder":
            problem(f"marked as redacted in a {audience} package, which carries records as stored")
        elif key not in mine or mine[key] != paths:
            problem("marked as redacted, but the manifest does not list this redaction")
        elif record.kind == "dead_letter":
            if (not isinstance(paths, list) or not paths or len(set(map(str, paths))) != len(paths)
                    or not set(map(str, paths)) <= set(DEAD_LETTER_WITHHELD)):
                problem("its redaction mark is not a list of a dead letter's raw-byte fields "
                        f"({', '.join(DEAD_LETTER_WITHHELD)})")
                continue
            blank = json.loads(record.body)
            blank.update(dict.fromkeys(paths))
            if canonical_json(blank) != record.body:
                problem("marked as redacted, but its withheld fields still carry values")
                continue
            accepted.add(key)
        elif not isinstance(paths, list) or not paths or record.kind != "event":
            problem("its redaction mark is not a list of an event's fields")
        else:
            # A field named as removed must be empty in the body (other holders' names may also
            # have been dropped from lists; the signed manifest vouches for those lines).
            blank = json.loads(record.body)
            remove_paths(blank, [p for p in paths if not _is_list_path(blank, p)], schemas)
            if canonical_json(blank) != record.body:
                problem("marked as redacted, but its redacted fields still carry values")
                continue
            accepted.add(key)
    for key in sorted(set(listed) - set(marks)):
        record = by_key.get(key)
        report.problems.append(Problem("manifest", "the manifest lists it as redacted, but "
                                       + ("the package has no such record" if record is None else "its line is not marked"),
                                       record.chain if record else None, record.seq if record else None,
                                       record.chain_seq if record else None, key,
                                       origin.get(key, MANIFEST_FILE)))
    return frozenset(accepted)


def verify_package(directory: str | Path, *, keys=None, schemas: SchemaSet | None = None,
                   bus_key: str | None = None) -> VerifyReport:
    """Check an inspection package offline: file hashes, counts, range, and the chain of its records.

    Signatures are re-checked against `keys`, or else the package's own keys.json when it has one.
    Records of a holder package that were written without their business-confidential fields
    (Art. 8) are checked for their place in the chain and their links; a note says so.
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
    # Art. 14: the bus's seal over the manifest, which pins every file's hash.
    check_seal(folder, report, bus_key)
    for name, entry in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            report.problems.append(Problem("missing", "listed in the manifest but not in the package", file=name))
        elif sha256_file(path) != entry.get("sha256"):
            report.problems.append(Problem("edited", "its SHA-256 does not match the manifest: the file was "
                                                     "changed after export", file=name))
    unlisted = sorted(p.name for p in folder.iterdir() if p.name not in manifest.get("files", {})
                      and p.name not in (MANIFEST_FILE, SEAL_FILE))
    if unlisted:
        report.notes.append(f"files not covered by the manifest (ignored): {', '.join(unlisted)}")

    records: list[LedgerRecord] = []
    origin: dict[str, str] = {}
    marks: dict[str, Any] = {}
    for kind, name in RECORD_FILES.items():
        if (folder / name).is_file():
            found = _read_records(folder / name, report, marks)
            origin.update((r.record_key, name) for r in found)
            expected = manifest.get("files", {}).get(name, {}).get("records")
            if expected is not None and expected != len(found):
                report.problems.append(Problem("missing", f"{len(found)} records, the manifest says {expected}", file=name))
            records += found
    records.sort(key=lambda r: r.chain_seq)
    _check_scope(manifest, records, origin, report)
    redacted = _check_redactions(manifest, records, marks, origin, report, schemas or default_schemas())

    chain = manifest["chain"]
    if keys is None and (folder / KEYS_FILE).is_file():
        from streams.signing import KeyRegistry
        keys = KeyRegistry.load(folder / KEYS_FILE)
    by_hash = {r.hash: r for r in records}
    before = len(report.problems)
    _walk_package(records, {chain["chain"]: (chain.get("first_chain_seq") or 1,
                                             chain.get("anchor_prev_hash") or GENESIS_HASH)},
                  redacted, by_hash.get, signature_checker(keys) if keys is not None else None, report)
    report.problems[before:] = [replace(p, file=origin.get(p.record_key)) for p in report.problems[before:]]
    last = records[-1] if records else None
    if (last.hash if last else None) != chain.get("last_hash") or (last.chain_seq if last else None) != chain.get("last_chain_seq"):
        report.problems.append(Problem("missing", f"the package ends at #{last.chain_seq if last else '—'} "
                                                  f"but the manifest says #{chain.get('last_chain_seq')} "
                                                  f"({str(chain.get('last_hash'))[:16]}…): records were removed from the end",
                                       chain=chain["chain"], file=origin.get(last.record_key) if last else EVENTS_FILE))
    kinds = {r.record_key: r.kind for r in records}
    letters = sum(kinds.get(key) == "dead_letter" for key in redacted)
    if letters:
        count = f"{letters} dead letter{'s were' if letters != 1 else ' was'} written without the refused message's raw bytes"
        if report.ok:
            report.notes.append(
                f"{count} (original_value, original_key); their content hash cannot be recomputed from the "
                "package, but the chain links around them hold and dead_letters.jsonl matches the SHA-256 in the "
                "manifest (`qbus ledger verify` on the full ledger checks their content)")
        else:
            report.notes.append(f"{count}; their content hash cannot be recomputed from the package, only their "
                                "place in the chain is checked")
    redacted = frozenset(key for key in redacted if kinds.get(key) != "dead_letter")
    if redacted:
        count = f"{len(redacted)} record{'s' if len(redacted) != 1 else ''} had"
        if report.ok:
            report.notes.append(
                f"{count} business-confidential fields removed (Art. 8); their content hash cannot be recomputed "
                "from the package, but the chain links around them hold and the hashes match the ledger's "
                "(`qbus ledger verify` on the full ledger checks them); their signatures, made over the original, "
                "are not re-checked here")
        else:
            report.notes.append(f"{count} business-confidential fields removed (Art. 8); their content hash cannot "
                                "be recomputed from the package, only their place in the chain is checked")
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


def _is_list_path(body: dict, path: str) -> bool:
    value: Any = body
    for part in path.split("."):
        if not isinstance(value, dict):
            return False
        value = value.get(part)
    return isinstance(value, list)
