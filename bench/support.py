"""What the benchmarks share: a broker, agreements of several manufacturers with signing keys,
signed events, worker processes, CPU time, and counting what reaches the holders' inboxes.

Everything is made fresh in a temporary folder on free ports; nothing reads the environment.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kafka import KafkaConsumer, TopicPartition  # noqa: E402

from streams.broker import free_port  # noqa: E402
from streams.processes import spawn, stop, wait_for_log  # noqa: E402
from streams.settings import Settings, child_env  # noqa: E402
from streams.signing import generate_keypair, public_key_b64  # noqa: E402

DEMO = ROOT / "deploy/demo/agreements/QA-HOLDERA-CMOX-001.yaml"
READY = "qbus worker ready"


class BenchFailed(RuntimeError):
    """A figure could not be measured; the message says why (never print nan)."""


@dataclass
class Fleet:
    """Agreements of several manufacturers (one holder each), each with a signing QMS."""
    folder: Path
    keys: dict[str, object] = field(default_factory=dict)      # manufacturer -> private key
    agreements: list[dict] = field(default_factory=list)

    @property
    def holders(self) -> list[str]:
        return [a["holder"]["id"] for a in self.agreements]


def fleet(folder: Path, manufacturers: int = 6) -> Fleet:
    """``manufacturers`` agreements from the demo one, each its own manufacturer and holder, so
    events spread over the core stage's partitions as a real CDMO's customers' would."""
    template = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    out = Fleet(folder)
    for n in range(manufacturers):
        data = yaml.safe_load(yaml.safe_dump(template))
        cmo, holder = f"CMO-B{n}", f"HOLDER-B{n}"
        data["agreement_id"] = f"QA-{holder}-{cmo}"
        data["holder"].update(id=holder, name=f"Bench Holder {n}")
        data["manufacturer"].update(id=cmo, name=f"Bench CMO {n}")
        private, public = generate_keypair()
        out.keys[cmo] = private
        data["sources"] = [{"instance": f"qms-b{n}-01", "party": cmo, "system": "QMS",
                            "keys": [{"key_id": f"qms-b{n}-k1", "public_key": public_key_b64(public)}]},
                           {"instance": f"qms-h{n}-01", "party": holder, "system": "QMS"}]
        for person in _people(data):
            if isinstance(person, dict) and person.get("party") in ("HOLDER", "MANUFACTURER"):
                person.pop("email", None)
        (folder / f"{data['agreement_id']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        out.agreements.append(data)
    return out


def _people(node):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _people(value)
    elif isinstance(node, list):
        for value in node:
            yield from _people(value)


def event_for(agreement: dict, n: int, *, critical: bool = False, at: datetime | None = None) -> dict:
    """A deviation of one of the agreement's products, as its manufacturer's QMS publishes it."""
    from tests.support.events import example

    at = at or datetime.now(timezone.utc) - timedelta(minutes=5)
    product = agreement["products"][0]
    cmo = agreement["manufacturer"]["id"]
    index = cmo.removeprefix("CMO-B")
    event = example("deviation", event_id=str(uuid.uuid4()), item_ref=f"DEV-{cmo}-{n:07d}",
                    agreement_id=agreement["agreement_id"], holder_id=agreement["holder"]["id"], manufacturer_id=cmo,
                    site_id=product["site_id"], line_id=_line(product),
                    product={"code": product["code"], "generic_name": product["generic_name"],
                             "dosage_form": product["dosage_form"], "sterile": bool(product.get("sterile"))},
                    occurred_at=at.isoformat(), published_at=at.isoformat(),
                    classification="CRITICAL" if critical else "MINOR",
                    source={"system": "QMS", "instance": f"qms-b{index}-01", "party_id": cmo,
                            "party_role": "MANUFACTURER", "user": None})
    event["payload"]["product_impact"] = critical
    return event


def _line(product: dict) -> str | None:
    lines = product.get("lines") or []
    if not lines:
        return None
    return lines[0]["line_id"] if isinstance(lines[0], dict) else lines[0]


def settings_for(bootstrap: str, state: Path, agreements: Path, **extra) -> Settings:
    return Settings(bootstrap_servers=bootstrap, state_dir=state, store="memory://", agreements_dir=agreements,
                    worker_web_port=free_port(), metrics_port=0, require_signatures=True,
                    app_id=f"bench-{uuid.uuid4().hex[:6]}", **extra)


class Process:
    """A child process (a worker) with its CPU time."""

    def __init__(self, command: list[str], settings: Settings, log: Path, ready: str = READY, timeout: float = 120):
        self.log = log
        self.process = spawn(command, log, child_env(settings))
        wait_for_log(log, ready, self.process, timeout)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        stop(self.process, timeout=20)


def worker(settings: Settings, log: Path) -> Process:
    return Process([sys.executable, "-m", "agents.cli.main", "worker"], settings, log)


class Arrivals:
    """Reads topics from the beginning in a thread and notes when each event id first arrives."""

    def __init__(self, bootstrap: str, topics: list[str], *, where=lambda value: True, decode=None):
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10,
                                      max_poll_records=5000)
        parts = [TopicPartition(t, p) for t in topics for p in (self.consumer.partitions_for_topic(t) or ())]
        if not parts:
            raise BenchFailed(f"no partitions for {topics}: were the topics created?")
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.where, self.decode = where, decode
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for messages in self.consumer.poll(timeout_ms=50).values():
                now = time.monotonic()
                for message in messages:
                    key = dict(message.headers or ()).get("qbus-event-id")
                    if key is None:
                        continue
                    key = key.decode()
                    if key not in self.seen and self.where(message):
                        self.seen[key] = now

    def wait_for(self, ids, timeout: float) -> None:
        ids = set(ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ids <= self.seen.keys():
                return
            time.sleep(0.05)
        missing = len(ids - self.seen.keys())
        raise BenchFailed(f"{missing} of {len(ids)} events did not arrive within {timeout:.0f} s")

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.consumer.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        raise BenchFailed("no values to take a percentile of")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    if not values:
        raise BenchFailed("no values to take a median of")
    return statistics.median(values)


def temp_folder(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
