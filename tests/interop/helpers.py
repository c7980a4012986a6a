"""Small helpers of the interop tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bizevents.deadletter import header
from bizevents.relay import Relay
from bizevents.worker import Worker


async def wait_until(check: Callable[[], bool | Awaitable[bool]], timeout: float = 60.0) -> None:
    """Poll `check` until true; fail after `timeout` seconds (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_worker(worker: Worker) -> AsyncIterator[Worker]:
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()


@contextlib.asynccontextmanager
async def running_relay(relay: Relay) -> AsyncIterator[Relay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, 30)


def headers_of(record: Any) -> dict[str, str]:
    return {name: bytes(value).decode() for name, value in record.headers}


def error_of(record: Any) -> str:
    return header(record.headers, "bizevents_error") or ""
