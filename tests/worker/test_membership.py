"""Static group membership: a worker restarted after kill -9 with the same instance id handles
events at once, instead of idling until the broker times out its previous self."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from .test_process import env_for, exited, lines
from .worker_helpers import Kafka, envelope, spawn_worker, wait_until

pytestmark = [pytest.mark.services, pytest.mark.slow]

SESSION_TIMEOUT_S = 30


async def restart_after_kill(
    kafka: Kafka, group: str, services: Any, tmp_path: Path, **extra: str
) -> float:
    """Seconds the restarted worker idles: from its "worker running" log line (process up,
    consumer started) to its first handled event."""
    etype = await kafka.new_type(partitions=3)
    out = tmp_path / f"{group}.txt"
    env = env_for(
        etype,
        group,
        out,
        services,
        BIZEVENTS_SESSION_TIMEOUT_MS=str(SESSION_TIMEOUT_S * 1000),
        BIZEVENTS_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    first = spawn_worker("killable:events", env, tmp_path / f"{group}-1.log")
    try:
        await kafka.send(etype, [envelope(etype, {"n": 0}, key="a")])
        await wait_until(lambda: "done 0" in lines(out), 60)
    finally:
        first.send_signal(signal.SIGKILL)
    await exited(first, 10)
    log = tmp_path / f"{group}-2.log"
    second = spawn_worker("killable:events", env, log)
    try:
        await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(1, 7)])
        await wait_until(lambda: "worker running" in log.read_text(), 90)
        started = time.monotonic()
        await wait_until(lambda: "done 1" in lines(out), 90)
        elapsed = time.monotonic() - started
    finally:
        second.send_signal(signal.SIGTERM)
    assert await exited(second, 30) == 0
    return elapsed


async def test_a_static_member_resumes_without_waiting_out_the_session_timeout(
    kafka: Kafka, group: str, services: Any, tmp_path: Path
) -> None:
    static = await restart_after_kill(
        kafka, group, services, tmp_path, BIZEVENTS_GROUP_INSTANCE_ID="billing-worker-0"
    )
    assert "static_member=billing-worker-0" in (tmp_path / f"{group}-2.log").read_text()
    dynamic = await restart_after_kill(kafka, group + "-dyn", services, tmp_path)
    print(
        f"\nrestart after kill -9, session timeout {SESSION_TIMEOUT_S} s: the restarted worker "
        f"idled {static:.1f} s with a static member id, {dynamic:.1f} s without"
    )
    # Without a static id the broker waits for the dead member's session to time out first
    # (less the restarted process's start-up time).
    assert static < 5
    assert dynamic > static + 5
