"""A worker started before Kafka or PostgreSQL answers waits for them, saying so once, and gives up
after `start_timeout` with one clear line (not a traceback)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bizevents.errors import ServiceUnavailableError
from bizevents.logging import configure_logging
from bizevents.worker import Context, Router, Worker, WorkerSettings
from servers import free_port, host_port

from .tcp_proxy import CuttableProxy
from .worker_helpers import Kafka, envelope, running, spawn_worker, wait_until

pytestmark = pytest.mark.services


async def test_a_worker_waits_for_the_database_then_kafka_and_then_handles(
    kafka: Kafka,
    group: str,
    services: Any,
    fast_settings: Callable[..., WorkerSettings],
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO")
    pg_host, pg_port = host_port(services.database_url)
    database = await CuttableProxy(pg_host, pg_port).start()
    broker = await CuttableProxy(*host_port(services.kafka_bootstrap)).start()
    database.cut()
    broker.cut()
    etype = await kafka.new_type()
    handled: list[int] = []
    router = Router()

    @router.subscriber(etype, group=group, inbox=True)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        handled.append(event["n"])

    settings = fast_settings(
        database_url=services.database_url.replace(f":{pg_port}/", f":{database.port}/"),
        kafka_bootstrap=f"127.0.0.1:{broker.port}",
        start_timeout=60,
    )
    worker = Worker(router, settings)
    starting = asyncio.create_task(worker.start())
    seen: list[str] = []

    def said(text: str) -> bool:
        seen.append(_read(capsys))
        return text in "".join(seen)

    try:
        await wait_until(lambda: said("database unreachable at start"), 20)
        await asyncio.sleep(1)  # several attempts, still one line
        assert not starting.done()
        database.restore()
        await wait_until(lambda: said("Kafka unreachable at start"), 20)
        await asyncio.sleep(1)
        assert not starting.done()
        broker.restore()
        await asyncio.wait_for(starting, 60)
        await kafka.send(etype, [envelope(etype, {"n": i}, key=f"k{i}") for i in range(5)])
        await wait_until(lambda: len(handled) == 5, 60)
    finally:
        await worker.stop()
        await database.stop()
        await broker.stop()
    output = "".join(seen) + _read(capsys)
    assert output.count("database unreachable at start") == 1, output
    assert output.count("database reachable: starting") == 1, output
    assert output.count("Kafka unreachable at start") == 1, output
    assert output.count("Kafka reachable: starting") == 1, output
    assert "Traceback" not in output
    assert sorted(handled) == list(range(5))


async def test_a_worker_gives_up_after_the_start_timeout_with_one_clear_error(
    group: str, fast_settings: Callable[..., WorkerSettings]
) -> None:
    router = Router()

    @router.subscriber("test.Never.v1", group=group)
    async def handle(event: dict[str, int], ctx: Context) -> None:
        raise AssertionError("nothing can arrive")

    worker = Worker(
        router, fast_settings(kafka_bootstrap=f"127.0.0.1:{free_port()}", start_timeout=1.5)
    )
    with pytest.raises(ServiceUnavailableError, match=r"Kafka did not answer within 1.5s of start"):
        async with running(worker):
            pass


async def test_the_cli_exits_with_one_line_when_kafka_never_answers(
    group: str, services: Any, tmp_path: Path
) -> None:
    env = {
        "APP_TYPE": "test.Never.v1",
        "APP_GROUP": group,
        "APP_OUT": str(tmp_path / "out"),
        "BIZEVENTS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "BIZEVENTS_START_TIMEOUT": "1",
    }
    log = tmp_path / "log"
    proc = spawn_worker("killable:events", env, log)
    await wait_until(lambda: proc.poll() is not None, 60)
    text = log.read_text()
    assert proc.returncode == 2, text
    assert "error: Kafka did not answer within 1s of start" in text
    assert "Traceback" not in text


def _read(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err
