"""`bizevents topics plan|apply` against the real Kafka: create, grow, set retention, keep or
delete extras, keep a topic's other settings, and touch nothing outside the plan's namespace."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from typer.testing import CliRunner

from bizevents.cli import app as cli_app
from bizevents.ops import topicadmin

pytestmark = pytest.mark.services
T = TypeVar("T")
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")

CONTRACT = """\
asyncapi: 3.0.0
info: {{title: shop, version: 1.0.0, x-bizevents-owner: t, x-bizevents-source: /t}}
channels:
{channels}
components:
  messages:
    M: {{payload: {{type: object, required: [id], properties: {{id: {{type: string}}}}}}}}
"""
CHANNEL = """\
  {key}:
    address: {name}
    x-bizevents-type: {name}
    x-bizevents-retention: {retention}
    x-bizevents-subscribers: [billing]
    bindings: {{kafka: {{partitions: {partitions}}}}}
    messages: {{M: {{$ref: '#/components/messages/M'}}}}
"""
APP = """\
import os
from bizevents import Events
from bizevents.worker import RetryPolicy

events = Events(app="billing", contracts=os.environ["APP_CONTRACTS"])


@events.subscriber(*os.environ["APP_TYPES"].split(","), group=os.environ["APP_GROUP"],
                   retry=RetryPolicy(delays=(5, 60)))
async def handle(event, ctx):
    pass
"""


def write(folder: Path, channels: list[tuple[str, str, int]]) -> None:
    text = "".join(
        CHANNEL.format(key=f"c{i}", name=name, retention=retention, partitions=partitions)
        for i, (name, retention, partitions) in enumerate(channels)
    )
    (folder / "shop.yaml").write_text(CONTRACT.format(channels=text))


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def cli(services: Any, tmp: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """The command in this process (a subprocess costs seconds of start-up on a busy machine)."""
    environ = {
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "COLUMNS": "200",
        **(env or {}),
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(tmp))
        for key, value in environ.items():
            patch.setenv(key, value)
        # In a thread: the command runs its own event loop, and this test's loop is running.
        return in_thread(CliRunner().invoke, cli_app, ["topics", *args])


def subprocess_cli(tmp: Path, *args: str, env: dict[str, str]) -> Any:
    return subprocess.run(
        [BIZEVENTS, "topics", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env={**os.environ, **env},
        check=False,
    )


def in_cluster(services: Any, prefix: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
        await admin.start()
        try:
            return await cluster(admin, prefix)
        finally:
            await admin.close()

    return in_thread(asyncio.run, read())


def in_cluster_once(
    services: Any, prefix: str, settled: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The cluster's topics once `settled` holds (at most 30 s): Kafka answers an alter or a
    delete once its controller has it, and the broker we ask may show it a moment later."""
    deadline = time.monotonic() + 30
    while True:
        topics = in_cluster(services, prefix)
        if settled(topics) or time.monotonic() > deadline:
            return topics
        time.sleep(0.2)


def set_config(services: Any, name: str, config: dict[str, str]) -> None:
    async def alter() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
        await admin.start()
        try:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, config)])
        finally:
            await admin.close()

    in_thread(asyncio.run, alter())


def create_topic(services: Any, name: str, **config: str) -> None:
    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(name, 1, 1)])
            if config:
                await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, config)])
        finally:
            await admin.close()

    in_thread(asyncio.run, create())


async def cluster(admin: AIOKafkaAdminClient, prefix: str) -> dict[str, Any]:
    state, overrides = await topicadmin.read_state(admin)
    return {
        name: (s.partitions, s.config.get("retention.ms"), overrides.get(name, {}))
        for name, s in state.items()
        if prefix in name
    }


async def test_apply_then_change_the_contracts(
    services: Any, kafka_admin: AIOKafkaAdminClient, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:8]
    ns = f"test.t{run}"
    a, b, c = f"{ns}.Alpha.v1", f"{ns}.Beta.v1", f"{ns}.Gamma.v1"
    group = f"g{run}"
    folder = tmp_path / "contracts"
    folder.mkdir()
    module = f"billing_app_{run}"
    (tmp_path / f"{module}.py").write_text(APP)
    write(folder, [(a, "1d", 4), (b, "12h", 2), (c, "1h", 1)])
    foreign = f"other-{run}"
    create_topic(services, foreign)
    env = {"APP_CONTRACTS": str(folder), "APP_TYPES": f"{a},{b},{c}", "APP_GROUP": group}
    app = ["--app", f"{module}:events"]

    planned = cli(services, tmp_path, "plan", str(folder), *app, "--json", env=env)
    assert planned.exit_code == 0, planned.output
    creates = {c["topic"]: c for c in json.loads(planned.stdout)["changes"]}
    assert {t for t, ch in creates.items() if ch["action"] == "create"} == {
        a,
        b,
        c,
        f"bizevents.retry.{group}.5s",
        f"bizevents.retry.{group}.1m",
        f"bizevents.replay.{group}",
        f"bizevents.dlq.{group}",
    }
    assert creates[f"bizevents.dlq.{group}"]["partitions"] == 4  # the widest source topic

    applied = cli(services, tmp_path, "apply", str(folder), *app, "--yes", env=env)
    assert applied.exit_code == 0, applied.output
    topics = in_cluster(services, run)
    assert topics[a][:2] == (4, str(86_400_000))
    assert topics[b][:2] == (2, str(43_200_000))
    assert topics[f"bizevents.retry.{group}.5s"][0] == 4
    again = cli(services, tmp_path, "plan", str(folder), *app, "--json", env=env)
    assert {ch["action"] for ch in json.loads(again.stdout)["changes"] if run in ch["topic"]} == {
        "unchanged"
    }

    # An operator's own setting on a topic survives a retention change.
    await kafka_admin.alter_configs(
        [
            ConfigResource(
                ConfigResourceType.TOPIC,
                a,
                {"retention.ms": "86400000", "max.message.bytes": "500000"},
            )
        ]
    )
    write(folder, [(a, "2d", 6), (b, "12h", 2)])  # Gamma is gone from the contracts
    env["APP_TYPES"] = f"{a},{b}"
    changed = cli(services, tmp_path, "plan", str(folder), *app, "--json", env=env)
    actions = {(ch["action"], ch["topic"]) for ch in json.loads(changed.stdout)["changes"]}
    assert {("add-partitions", a), ("alter-config", a), ("keep-extra", c)} <= actions
    assert not any(t == foreign for _, t in actions)

    kept = cli(services, tmp_path, "apply", str(folder), *app, "--yes", env=env)
    assert kept.exit_code == 0, kept.output
    topics = in_cluster_once(services, run, lambda t: t[a][1] != str(86_400_000))
    assert topics[a][:2] == (6, str(2 * 86_400_000))
    assert topics[a][2].get("max.message.bytes") == "500000"
    assert c in topics  # not deleted without --allow-delete

    deleted = cli(
        services, tmp_path, "apply", str(folder), *app, "--yes", "--allow-delete", env=env
    )
    assert deleted.exit_code == 0, deleted.output
    topics = in_cluster_once(services, run, lambda t: c not in t)
    assert c not in topics and a in topics and foreign in topics


def test_apply_without_a_terminal_needs_yes(services: Any, tmp_path: Path) -> None:
    folder = tmp_path / "contracts"
    folder.mkdir()
    write(folder, [(f"test.t{uuid.uuid4().hex[:8]}.Alpha.v1", "1d", 1)])
    result = subprocess_cli(
        tmp_path, "apply", str(folder), env={"BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap}
    )
    assert result.returncode == 1
    assert "run with --yes" in result.stderr


def test_unreachable_kafka_is_one_clear_line(services: Any, tmp_path: Path) -> None:
    contracts = str(Path(__file__).parents[2] / "contracts")
    result = subprocess_cli(
        tmp_path, "plan", contracts, env={"BIZEVENTS_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    )
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot use Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_strimzi_output_needs_no_cluster(services: Any, tmp_path: Path) -> None:
    result = cli(
        services,
        tmp_path,
        "plan",
        str(Path(__file__).parents[2] / "contracts"),
        "--strimzi",
        "-",
        "--cluster",
        "prod",
        env={"BIZEVENTS_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("kind: KafkaTopic") == 7
