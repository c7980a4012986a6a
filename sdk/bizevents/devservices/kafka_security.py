"""The secured local Kafka (`bizevents dev up --secure`): SASL/SCRAM-SHA-512 and ACLs.

- Clients authenticate with SCRAM-SHA-512 on a SASL_PLAINTEXT listener; the controller listener
  uses SASL/PLAIN with its own credential (SCRAM credentials live in the metadata log, which the
  controller must serve before anyone could check them).
- Kafka's StandardAuthorizer (KRaft) denies whatever no ACL allows; the super users are the
  admin (who runs `bizevents kafka acl apply`) and the controller principal, nobody else.
- The admin's SCRAM credential is written into the metadata log when the storage is formatted,
  as a salted hash: the password never appears on a command line. Passwords are random, kept
  in files readable by the owner only, and never printed.
- No TLS: the listeners are bound to 127.0.0.1, so there is no network to protect, and the
  authorization being tested is the same with or without it. Production brokers use SASL_SSL
  (BIZEVENTS_KAFKA_SSL_CAFILE).
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import SecretStr

from ..security.scram import salted_password

MECHANISM: Final = "SCRAM-SHA-512"
ADMIN = "admin"
CONTROLLER = "controller"
# Kafka's minimum for SCRAM; enough for a loopback-only development broker.
ITERATIONS = 4096


@dataclass(frozen=True)
class Credentials:
    username: str
    password: SecretStr


def write_private(path: Path, text: str) -> None:
    """Create or replace a file only its owner can read."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def load_or_create(path: Path, username: str) -> Credentials:
    """The password stored at `path`, created (random) on first use."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return Credentials(username, SecretStr(path.read_text().strip()))


def server_properties(
    host: str, port: int, controller_port: int, admin: Credentials, controller: Credentials
) -> list[str]:
    """Listener, SASL and authorizer lines of server.properties for the secured broker."""
    admin_pw = admin.password.get_secret_value()
    ctl_pw = controller.password.get_secret_value()
    scram_login = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain_login = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        f"listeners=SASL_PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        f"advertised.listeners=SASL_PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "inter.broker.listener.name=SASL_PLAINTEXT",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config="
        f'{scram_login} required username="{admin.username}" password="{admin_pw}";',
        "sasl.mechanism.controller.protocol=PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
        f"listener.name.controller.plain.sasl.jaas.config={plain_login} required "
        f'username="{controller.username}" password="{ctl_pw}" '
        f'user_{controller.username}="{ctl_pw}";',
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{admin.username};User:{controller.username}",
        "allow.everyone.if.no.acl.found=false",
        # Topics are created on purpose (an admin, a worker for its own retry topics), not by
        # the first producer or consumer that names one.
        "auto.create.topics.enable=false",
    ]


def format_scram_argument(admin: Credentials) -> str:
    """`--add-scram` value for the storage format: the admin's salted credential, not the
    password itself."""
    salt = secrets.token_bytes(16)
    salted = salted_password(MECHANISM, admin.password.get_secret_value(), salt, ITERATIONS)
    return (
        f"{MECHANISM}=[name={admin.username},iterations={ITERATIONS},"
        f'salt="{base64.b64encode(salt).decode()}",'
        f'saltedpassword="{base64.b64encode(salted).decode()}"]'
    )
