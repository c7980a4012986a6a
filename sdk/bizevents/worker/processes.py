"""`bizevents worker app:events --processes N`: N worker processes of the same groups.

One Python process uses one core; N processes on one machine are N members of each consumer
group (partitions are shared out by the co-partitioned assignor, so every guarantee holds as
with N machines). The parent only supervises: it starts the children (`BIZEVENTS_PROCESS_INDEX`
0..N-1, which also gives each its own static member id when one is configured), restarts a child
that dies (backing off when it keeps dying), and on SIGTERM/SIGINT passes SIGTERM to all of them
and waits for their graceful stop. A child whose parent dies gets SIGTERM (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

import structlog

log = structlog.get_logger("bizevents.worker")

RESTART_BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # a child that ran this long starts its backoff afresh
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Not Linux: children outlive a parent killed with -9.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        args: Sequence[str],
        count: int,
        env: Mapping[str, str],
        stop_timeout: float,
    ) -> None:
        """`args`: the `bizevents` arguments of one child (e.g. ["worker", "app:events"])."""
        self.command = [sys.executable, "-m", "bizevents", *args]
        self.count = count
        self.env = dict(env)
        self.stop_timeout = stop_timeout
        self.children: list[subprocess.Popen[bytes] | None] = [None] * count
        self.started_at = [0.0] * count
        self.backoff = [0.0] * count
        self.restart_at: dict[int, float] = {}
        self.stopping = False

    def _start(self, index: int) -> None:
        env = {**self.env, "BIZEVENTS_PROCESS_INDEX": str(index)}
        child = subprocess.Popen(self.command, env=env, preexec_fn=_die_with_parent)
        self.children[index] = child
        self.started_at[index] = time.monotonic()
        log.info("worker process started", index=index, pid=child.pid)

    def _stop(self, signum: int, _: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; the exit status is 0 when every child stopped cleanly."""
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for index in range(self.count):
                self._start(index)
            while not self.stopping:
                self._watch()
                time.sleep(0.2)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _watch(self) -> None:
        now = time.monotonic()
        for index, child in enumerate(self.children):
            if child is not None and child.poll() is not None:
                ran = now - self.started_at[index]
                delay = 1.0 if ran > STABLE_AFTER else max(1.0, self.backoff[index] * 2)
                self.backoff[index] = min(delay, RESTART_BACKOFF_MAX)
                self.restart_at[index] = now + self.backoff[index]
                self.children[index] = None
                log.error(
                    "worker process exited: restarting it",
                    index=index,
                    pid=child.pid,
                    returncode=child.returncode,
                    after_seconds=self.backoff[index],
                )
        for index, due in list(self.restart_at.items()):
            if now >= due:
                del self.restart_at[index]
                self._start(index)

    def _stop_all(self) -> int:
        running = [c for c in self.children if c is not None and c.poll() is None]
        log.info("stopping worker processes", processes=len(running))
        for child in running:
            child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        clean = True
        for child in running:
            try:
                code = child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("worker process did not stop in time: killed", pid=child.pid)
                child.kill()
                child.wait()
                clean = False
                continue
            # A child stopped by SIGINT from the terminal as well exits 0 too.
            clean = clean and code == 0
        log.info("worker processes stopped", clean=clean)
        return 0 if clean else 1


def child_args(target: str, groups: Sequence[str], concurrency: int | None) -> list[str]:
    args = ["worker", target]
    for group in groups:
        args += ["--group", group]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    return args


def run_processes(
    target: str,
    groups: Sequence[str],
    concurrency: int | None,
    count: int,
    stop_timeout: float,
    env: Mapping[str, str] | None = None,
) -> int:
    args = child_args(target, groups, concurrency)
    return Supervisor(args, count, os.environ if env is None else env, stop_timeout).run()
