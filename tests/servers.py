"""Helpers for tests that run servers as child processes: a free port, waiting until a broker
answers `/healthz`, and stopping a child (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import asyncio
import signal
import socket

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, process: asyncio.subprocess.Process, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while loop.time() < deadline:
            if process.returncode is not None:
                raise RuntimeError(f"broker exited with {process.returncode}")
            try:
                if (await http.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"broker not healthy at {url} within {timeout}s")


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 15)
    except TimeoutError:
        process.kill()
        await asyncio.wait_for(process.wait(), 10)


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of `host:port` or of a URL such as postgresql://user@host:port/db."""
    netloc = address.split("://", 1)[-1].split("@", 1)[-1].split("/", 1)[0]
    host, port = netloc.rsplit(":", 1)
    return host, int(port)
