"""A secured Kafka (SASL/SCRAM-SHA-512 + StandardAuthorizer) started for this session.

It runs beside the shared plain stack, on free ports and in its own state folder (the cached
server jars are linked, not fetched again), and is stopped at the end of the session. Every
password made here is recorded so the secrets scan can look for it in what the suite logged.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bizevents.devservices import KafkaServer
from bizevents.settings import ConnectionSettings, DevSettings
from secrets_registry import remember_secret


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class SecureKafka:
    server: KafkaServer
    admin: ConnectionSettings

    @property
    def bootstrap(self) -> str:
        return self.server.bootstrap

    def env(self, settings: ConnectionSettings) -> dict[str, str]:
        """BIZEVENTS_* variables for a process that logs in as `settings`' principal."""
        assert settings.kafka_sasl_username and settings.kafka_sasl_password
        return {
            "BIZEVENTS_KAFKA_BOOTSTRAP": self.bootstrap,
            "BIZEVENTS_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism,
            "BIZEVENTS_KAFKA_SASL_USERNAME": settings.kafka_sasl_username,
            "BIZEVENTS_KAFKA_SASL_PASSWORD": settings.kafka_sasl_password.get_secret_value(),
        }


@pytest.fixture(scope="session")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafka]:
    reuse = os.environ.get("BIZEVENTS_TEST_SECURE_STATE_DIR")
    if reuse:
        # A secured stack of your own kept running between runs (`dev up --secure` with
        # this state dir and BIZEVENTS_TEST_SECURE_KAFKA_PORT): reused, never stopped.
        port = int(os.environ["BIZEVENTS_TEST_SECURE_KAFKA_PORT"])
        kept = KafkaServer(DevSettings(state_dir=Path(reuse), kafka_port=port))
        if not (kept.secure and kept.ready()):
            pytest.exit(f"no secured Kafka answers on {kept.bootstrap} ({reuse})", 2)
        yield _remembered(kept)
        return
    shared = DevSettings()
    state = tmp_path_factory.mktemp("secure-stack")
    settings = DevSettings(
        state_dir=state,
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        kafka_secure=True,
        kafka_heap="512m",
        kafka_start_timeout=240,  # a loaded CI machine
    )
    server = KafkaServer(settings)
    cached = KafkaServer(shared).libs
    # The jars are shared by every stack now (one cache per user); older layouts linked them.
    if (cached / ".complete").exists() and not server.libs.exists():
        server.libs.parent.mkdir(parents=True, exist_ok=True)
        server.libs.symlink_to(cached, target_is_directory=True)
    try:
        server.start()
        yield _remembered(server)
    finally:
        server.stop()
        shutil.rmtree(server.data, ignore_errors=True)


def _remembered(server: KafkaServer) -> SecureKafka:
    admin = server.admin_settings()
    assert admin.kafka_sasl_password is not None
    remember_secret(admin.kafka_sasl_password.get_secret_value())
    remember_secret(server.controller_password_file.read_text().strip())
    return SecureKafka(server, admin)


@pytest.fixture
def app_user(secure_kafka: SecureKafka) -> Callable[[str], ConnectionSettings]:
    """Creates a SCRAM user (random password) and returns its client settings."""
    import asyncio

    from bizevents.security.kafka_admin import KafkaAdmin

    def make(name: str) -> ConnectionSettings:
        password = "pw-" + secrets.token_urlsafe(18)
        remember_secret(password)

        async def go() -> None:
            async with KafkaAdmin(secure_kafka.admin) as admin:
                await admin.set_scram_user(name, password)

        # A fixture helper may be called from async tests: run in a fresh loop on a thread.
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, go()).result()
        return ConnectionSettings(
            kafka_bootstrap=secure_kafka.bootstrap,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username=name,
            kafka_sasl_password=password,
        )

    return make


@pytest.fixture
def names() -> Callable[[str], str]:
    """Unique app names for this test (ACLs are cluster-wide)."""
    suffix = uuid.uuid4().hex[:8]
    return lambda app: f"{app}-{suffix}"


def contract_doc(service: str, events: dict[str, tuple[list[str], list[str]]]) -> dict[str, Any]:
    """An AsyncAPI document: event type -> (publishers, subscribers)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for n, (event_type, (publishers, subscribers)) in enumerate(events.items()):
        channel = f"c{n}"
        channels[channel] = {
            "address": event_type,
            "x-bizevents-type": event_type,
            "x-bizevents-key": "id",
            "x-bizevents-publishers": publishers,
            "x-bizevents-subscribers": subscribers,
            "messages": {
                "Msg": {
                    "payload": {
                        "type": "object",
                        "required": ["id"],
                        "properties": {"id": {"type": "string"}},
                    }
                }
            },
        }
        operations[f"send{n}"] = {"action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": service,
            "version": "1.0.0",
            "x-bizevents-owner": "team",
            "x-bizevents-source": f"/acme/{service}",
        },
        "channels": channels,
        "operations": operations,
    }


def write_contracts(
    folder: Path, service: str, events: dict[str, tuple[list[str], list[str]]]
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{service}.yaml").write_text(
        yaml.safe_dump(contract_doc(service, events), sort_keys=False)
    )
    return folder
