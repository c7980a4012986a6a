"""`bizevents dev up` on a second stack: every port derived or probed, the reason of a failed
start shown, nothing left half-started."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bizevents.devservices import KafkaServer, PostgresServer, process
from bizevents.settings import DevSettings

BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def _dev(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIZEVENTS, "dev", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=400,
        check=False,
    )


def _free_pair() -> int:
    """A port whose successor is free too (Kafka's client port and, by default, its controller)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port < 65535 and process.port_free("127.0.0.1", port + 1):
            return port
    raise RuntimeError("no free pair of ports")


@pytest.fixture
def private_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    tmp_path.chmod(0o755)
    env = {
        "BIZEVENTS_STATE_DIR": str(tmp_path / "state"),
        "BIZEVENTS_KAFKA_PORT": str(_free_pair()),
        "BIZEVENTS_PG_PORT": str(_free_pair()),
    }
    yield env
    _dev("down", "--wipe", env=env)


def test_controller_port_follows_the_kafka_port() -> None:
    assert DevSettings(kafka_port=39092).controller_port == 39093
    assert DevSettings(kafka_port=39092, kafka_controller_port=40000).controller_port == 40000


def test_taken_controller_port_is_named_and_nothing_starts(private_env: dict[str, str]) -> None:
    controller = int(private_env["BIZEVENTS_KAFKA_PORT"]) + 1
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", controller))
        holder.listen()
        up = _dev("up", env=private_env)
    assert up.returncode == 1
    line = up.stderr.strip()
    assert f"port {controller}" in line and "BIZEVENTS_KAFKA_CONTROLLER_PORT" in line, line
    assert "Traceback" not in up.stderr
    settings = DevSettings(state_dir=Path(private_env["BIZEVENTS_STATE_DIR"]))
    assert PostgresServer(settings).running_pid() is None


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.timeout(600)  # the first run fetches the Kafka jars; JVMs start slowly under load
def test_kafka_failing_after_postgres_started_shows_why_and_stops_postgres(
    private_env: dict[str, str],
) -> None:
    """Kafka refuses storage that another node formatted: the reason is only in server.log."""
    state = Path(private_env["BIZEVENTS_STATE_DIR"])
    settings = DevSettings(state_dir=state)
    kafka = KafkaServer(settings)
    # The jars are shared by every stack (fetched once); the storage is a foreign node's.
    assert kafka.libs == KafkaServer(DevSettings()).libs
    kafka.data.mkdir(parents=True)
    (kafka.data / "meta.properties").write_text(
        "node.id=7\nversion=1\ncluster.id=SdBAYGqeT3ez4BrUEUoUPw\n"
        "directory.id=P-_McMHwmlsayhIkDYRHfQ\n"
    )
    up = _dev("up", env=private_env)
    assert up.returncode == 1, up.stdout
    assert "Kafka exited with code" in up.stderr
    assert "server.log" in up.stderr and "node" in up.stderr.lower(), up.stderr
    assert PostgresServer(settings).running_pid() is None
    assert kafka.running_pid() is None
    assert process.pids_with_marker(kafka.marker) == []
    status = json.loads(_dev("status", "--json", env=private_env).stdout)
    assert not status["postgres"]["running"] and not status["kafka"]["running"]
