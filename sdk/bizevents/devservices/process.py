"""Small helpers to run and stop a background server by PID file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def pids_with_marker(marker: str) -> list[int]:
    """Processes whose command line contains `marker` (how we find strays of ours)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and int(entry.name) != os.getpid() and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM, wait, then SIGKILL: a server gets a chance to shut down cleanly."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while alive(pid):
        _reap(pid)
        time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_free(host: str, port: int) -> bool:
    """Whether we could listen on host:port now (an open-port probe misses a port that is bound
    but not yet listening, and one held by a server that refuses connections)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail_since(path: Path, offset: int, lines: int = 25) -> str:
    """The last lines written to `path` after byte `offset`, errors first when there are any
    (a JVM's last lines are often its shutdown chatter, not the reason)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset if offset <= size(path) else 0)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    all_lines = [line for line in text.splitlines() if line.strip()]
    errors = [line for line in all_lines if " ERROR " in line or " FATAL " in line]
    chosen = errors[:5] + [line for line in all_lines[-lines:] if line not in errors[:5]]
    return "\n".join(line[:500] for line in chosen)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"
