"""Schema evolution check: every event schema must stay backward AND forward compatible.

Backward: today's consumers read events written with the previous schema.
Forward: consumers still on the previous schema read events written with today's.
Uses `avro.compatibility` (the reference implementation's checker).
"""
from __future__ import annotations

import json
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from schemas import SCHEMA_DIR, SchemaSet


def incompatibilities(reader: dict, writer: dict) -> list[str]:
    result = ReaderWriterCompatibilityChecker().get_compatibility(
        avro.schema.parse(json.dumps(reader)), avro.schema.parse(json.dumps(writer)))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    return sorted({f"{', '.join(str(i) for i in result.incompatibilities)} at {loc}"
                   for loc in result.locations} or {str(result.incompatibilities)})


def compare(old: SchemaSet, new: SchemaSet) -> list[str]:
    """Problems, in words, of moving from `old` to `new`; empty when compatible both ways."""
    problems = []
    for category, before in old.categories.items():
        after = new.categories.get(category)
        if after is None:
            problems.append(f"{category}: schema removed; old events could no longer be read")
            continue
        for direction, reader, writer in (("backward", after.event, before.event),
                                          ("forward", before.event, after.event)):
            for problem in incompatibilities(reader, writer):
                problems.append(f"{category}: not {direction} compatible: {problem}")
        missing = set(before.actions) - set(after.actions)
        if missing:
            problems.append(f"{category}: actions removed: {', '.join(sorted(missing))}")
    if old.dead_letter and new.dead_letter:
        for direction, reader, writer in (("backward", new.dead_letter, old.dead_letter),
                                          ("forward", old.dead_letter, new.dead_letter)):
            problems += [f"dead_letter: not {direction} compatible: {p}" for p in incompatibilities(reader, writer)]
    return problems


def _git(*args: str, cwd: Path) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True).stdout


def schemas_at(commit: str, repo: Path) -> SchemaSet:
    """The schema set as committed at `commit`."""
    archive = _git("archive", "--format=tar", commit, "schemas", cwd=repo)
    target = Path(tempfile.mkdtemp(prefix="qbus-schemas-"))
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return SchemaSet(target / "schemas")


def previous_version(current: SchemaSet, repo: Path) -> tuple[str, SchemaSet] | None:
    """The newest committed schema set that differs from `current` (None if there is none)."""
    try:
        commits = _git("log", "--format=%H", "--", "schemas", cwd=repo).decode().split()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    fingerprint = _fingerprint(current)
    for commit in commits:
        try:
            candidate = schemas_at(commit, repo)
        except (FileNotFoundError, ValueError):  # a commit from before the schemas existed
            continue
        if candidate.categories and _fingerprint(candidate) != fingerprint:
            return commit, candidate
    return None


def _fingerprint(schemas: SchemaSet) -> str:
    return json.dumps({c: s.canonical for c, s in schemas.categories.items()}, sort_keys=True) \
        + json.dumps(schemas.dead_letter, sort_keys=True)


def repo_root() -> Path:
    return SCHEMA_DIR.parent
