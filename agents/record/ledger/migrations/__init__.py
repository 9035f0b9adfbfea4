"""Versioned schema migrations, one folder per backend: ``NNNN_name.sql``, applied in order once each.

Each backend keeps a ``schema_migrations`` table (version, name, sha256 of the file, applied_at).
An applied file must never change; add a new numbered file instead. A changed file is logged, not
re-applied.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(backend: str) -> list[Migration]:
    """The migrations of one backend ('sqlite' or 'postgres'), ordered by version."""
    folder = resources.files(__name__).joinpath(backend)
    found = []
    for entry in folder.iterdir():
        match = FILE_NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {backend} migrations share a version number: {versions}")
    return found
