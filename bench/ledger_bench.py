"""Ledger append throughput, both backends, batches of 1 and 100, against a raw batched insert of
the very same rows; and the verify walk.

    python bench/ledger_bench.py [--n N] [--pg postgresql://postgres@127.0.0.1:5432]

SQLite runs in a temporary file (WAL, synchronous=FULL, then NORMAL); PostgreSQL in a temporary
database that is dropped afterwards. Each figure is records per second over N fresh events of
realistic size (~1 KB canonical JSON), one agreement. "raw" inserts the rows the ledger stored (its
hashes already made) into a table built like the ledger's (same columns, keys and indexes), in
batches of 500 (SQLite: executemany in one transaction; PostgreSQL: COPY): what the database alone
costs. The ratio is the ledger's own work (canonical JSON, hash chain, duplicate check, chain heads)
on top of it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402

from agents.record.ledger import open_ledger  # noqa: E402


def make_event(i: int) -> dict:
    now = datetime.now(timezone.utc)
    return {
        "event_id": str(uuid.uuid4()), "event_type": "deviation.reported", "schema_version": 1,
        "occurred_at": now, "published_at": now,
        "source": {"system": "QMS", "instance": "qms-cmox-01", "party_id": "CMOX", "party_role": "MANUFACTURER",
                   "user": "zhang.san"},
        "agreement_id": "QA-HOLDERA-CMOX-001", "holder_id": "HOLDERA", "manufacturer_id": "CMOX", "site_id": "CMOX-SZ",
        "product": {"code": "P-001", "generic_name": "注射用头孢曲松钠", "dosage_form": "injection", "sterile": True},
        "batch_no": f"B{i:06d}", "line_id": "L2", "item_ref": f"DEV-2026-{i:05d}", "classification": "MAJOR",
        "significant_risk": False, "corrects_event_id": None, "confidential_fields": [],
        "payload": {"title": "灌装间压差偏低 low differential pressure in filling room", "found_at": now,
                    "description": "x" * 400, "immediate_action": "line stopped, area re-qualified"},
        "signature": None,
    }


def run(url: str, n: int, batch: int) -> float:
    events = [make_event(i) for i in range(n)]
    with open_ledger(url) as ledger:
        started = time.perf_counter()
        for start in range(0, n, batch):
            ledger.append(events[start:start + batch])
        elapsed = time.perf_counter() - started
        assert ledger.count() == n
    return n / elapsed


RAW_BATCH = 500


def raw_rate(url: str, kind: str) -> float:
    """The ledger's own rows into a table built like the ledger's (same columns, keys and indexes,
    without its append-only triggers), in batches: what the database alone costs for them."""
    from agents.record.ledger.sqlite import COLUMNS

    with open_ledger(url) as ledger:
        rows = [tuple(r.to_export()[c.strip()] if c.strip() != "body" else r.body for c in COLUMNS.split(","))
                for r in ledger.iter()]
        conn = ledger._conn
        marks = ",".join("?" * len(rows[0]))
        if kind == "sqlite":
            for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name = 'ledger_records' "
                                       "AND type IN ('table', 'index') AND sql IS NOT NULL").fetchall():
                conn.execute(sql.replace("ledger_records", "raw_rows"))
        else:
            conn.execute("CREATE TABLE raw_rows (LIKE ledger_records INCLUDING ALL)")
        started = time.perf_counter()
        for start in range(0, len(rows), RAW_BATCH):
            chunk = rows[start:start + RAW_BATCH]
            if kind == "sqlite":
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(f"INSERT INTO raw_rows ({COLUMNS}) VALUES ({marks})", chunk)
                conn.execute("COMMIT")
            else:
                with conn.transaction(), conn.cursor().copy(f"COPY raw_rows ({COLUMNS}) FROM STDIN") as copy:
                    for row in chunk:
                        copy.write_row(row)
        elapsed = time.perf_counter() - started
    return len(rows) / elapsed


def verify_rate(url: str) -> float:
    with open_ledger(url) as ledger:
        started = time.perf_counter()
        report = ledger.verify()
        elapsed = time.perf_counter() - started
        assert report.ok, report.summary()
    return report.records / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="events per run (default 2000)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of ledger and raw (default 5)")
    args = parser.parse_args()

    rows = []
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for sync in ("full", "normal"):
            for batch in (1, 100):
                url = f"sqlite:///{folder}/ledger-{sync}-{batch}.db?synchronous={sync}"
                rows.append((f"sqlite (WAL, synchronous={sync})", batch, run(url, args.n, batch),
                             verify_rate(url) if batch == 100 else None))
            # The machine is shared: alternate ledger and raw over several rounds, take the medians.
            pairs = []
            for round_ in range(args.rounds):
                url = f"sqlite:///{folder}/ratio-{sync}-{round_}.db?synchronous={sync}"
                pairs.append((run(url, args.n, RAW_BATCH), raw_rate(url, "sqlite")))
            ratios.append((f"sqlite (synchronous={sync})", pairs))

    database = f"qbus_ledger_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        for batch in (1, 100):
            url = f"{args.pg}/{database}?schema=b{batch}"
            rows.append(("postgresql", batch, run(url, args.n, batch), verify_rate(url) if batch == 100 else None))
        pairs = []
        for round_ in range(args.rounds):
            url = f"{args.pg}/{database}?schema=r{round_}"
            pairs.append((run(url, args.n, RAW_BATCH), raw_rate(url, "postgres")))
        ratios.append(("postgresql (against COPY)", pairs))
    finally:
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    print(f"ledger append throughput, {args.n} events per run (~1 KB each)")
    print(f"{'backend':34} {'batch':>5} {'append rec/s':>13} {'verify rec/s':>13}")
    for backend, batch, rate, verify in rows:
        print(f"{backend:34} {batch:>5} {rate:>13,.0f} {(f'{verify:,.0f}' if verify else '—'):>13}")
    print(f"\nledger append against a raw batched insert of the same rows (batches of {RAW_BATCH}; target >= 50 %)")
    print(f"(medians of {args.rounds} alternating rounds)")
    for backend, pairs in ratios:
        ledger_rate = statistics.median(p[0] for p in pairs)
        raw = statistics.median(p[1] for p in pairs)
        ratio = statistics.median(p[0] / p[1] for p in pairs)
        print(f"{backend:34} ledger {ledger_rate:>9,.0f} rec/s  raw {raw:>9,.0f} rec/s  {ratio:>6.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
