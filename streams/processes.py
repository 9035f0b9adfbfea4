"""Child processes of qbus (broker, worker, dashboard): started so they die with their parent."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when the parent dies, and has its own process group."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setsid()


def spawn(cmd: list[str], log_path: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, preexec_fn=die_with_parent)


def stop(process: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Stop a child by its own PID: SIGTERM, then SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


def wait_for_log(log_path: Path, text: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until `text` appears in a child's log; fail early, with the log's tail, if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = log_path.read_text(errors="replace") if log_path.exists() else ""
        if text in content:
            return
        if process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before '{text}'; "
                               f"log tail:\n{content[-3000:]}")
        time.sleep(0.2)
    content = log_path.read_text(errors="replace") if log_path.exists() else ""
    raise TimeoutError(f"'{text}' did not appear in {log_path} within {timeout:.0f} s; tail:\n{content[-3000:]}")


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> str:
    """Which process listens on a local TCP port, in words ("pid 4242 (java ...)"), as far as /proc tells."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes:
                    command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                    return f"pid {proc.name} ({command[:80] or 'unknown command'})"
        except OSError:
            continue
    return "another process" if inodes else "nothing that /proc shows"
