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
