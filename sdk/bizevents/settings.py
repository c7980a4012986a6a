"""Settings from the environment: one pydantic-settings class per process, prefix BIZEVENTS_.

All classes share the connection fields, so BIZEVENTS_KAFKA_BOOTSTRAP and
BIZEVENTS_DATABASE_URL mean the same thing to every process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

DEFAULT_KAFKA_PORT = 19092
DEFAULT_PG_PORT = 15432


def find_project_root(start: Path | None = None) -> Path:
    """The checkout holding deploy/kafka/pom.xml: searched upward from `start`, then beside the
    package (editable installs), else the current directory."""
    candidates = [start or Path.cwd(), Path(__file__).resolve().parent]
    for base in candidates:
        for folder in (base, *base.parents):
            if (folder / "deploy" / "kafka" / "pom.xml").is_file():
                return folder
    return Path.cwd()


SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class KafkaSecuritySettings(BaseSettings):
    """How every bizevents process authenticates to Kafka (the one place for it).

    BIZEVENTS_KAFKA_SASL_USERNAME / _PASSWORD select SASL (SCRAM-SHA-512 unless
    BIZEVENTS_KAFKA_SASL_MECHANISM says otherwise); the protocol follows (SASL_PLAINTEXT, or
    SASL_SSL with BIZEVENTS_KAFKA_SSL_CAFILE) unless BIZEVENTS_KAFKA_SECURITY_PROTOCOL is set.
    The password is a SecretStr: it prints as '**********' in reprs, errors and logs.
    """

    model_config = SettingsConfigDict(env_prefix="BIZEVENTS_", extra="ignore")

    kafka_security_protocol: SecurityProtocol | None = None
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSecuritySettings:
        # ConfigurationError, not ValueError: pydantic would wrap a ValueError in a
        # ValidationError that echoes every input value, the password included.
        if (self.kafka_sasl_username is None) != (self.kafka_sasl_password is None):
            raise ConfigurationError(
                "set both BIZEVENTS_KAFKA_SASL_USERNAME and BIZEVENTS_KAFKA_SASL_PASSWORD, "
                "or neither"
            )
        if self.kafka_protocol.startswith("SASL") and self.kafka_sasl_username is None:
            raise ConfigurationError(
                f"BIZEVENTS_KAFKA_SECURITY_PROTOCOL={self.kafka_protocol} needs "
                "BIZEVENTS_KAFKA_SASL_USERNAME and BIZEVENTS_KAFKA_SASL_PASSWORD"
            )
        return self

    @property
    def kafka_protocol(self) -> SecurityProtocol:
        if self.kafka_security_protocol is not None:
            return self.kafka_security_protocol
        tls = self.kafka_ssl_cafile is not None
        if self.kafka_sasl_username is not None:
            return "SASL_SSL" if tls else "SASL_PLAINTEXT"
        return "SSL" if tls else "PLAINTEXT"

    def kafka_security_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin)."""
        protocol = self.kafka_protocol
        options: dict[str, Any] = {"security_protocol": protocol}
        if protocol.startswith("SASL"):
            assert self.kafka_sasl_password is not None  # checked by the validator
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        if protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            cafile = str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None
            options["ssl_context"] = create_ssl_context(cafile=cafile)
        return options


class ConnectionSettings(KafkaSecuritySettings):
    """Where Kafka and PostgreSQL are (and how to log in to Kafka); defaults point at
    `bizevents dev up`."""

    model_config = SettingsConfigDict(env_prefix="BIZEVENTS_", extra="ignore")

    kafka_bootstrap: str = f"127.0.0.1:{DEFAULT_KAFKA_PORT}"
    database_url: str = f"postgresql://bizevents@127.0.0.1:{DEFAULT_PG_PORT}/bizevents"
    # The space (dev, test, prod, a sandbox) whose topics and consumer groups this process
    # uses; none: unscoped names. See bizevents.mesh.
    space: str | None = Field(default=None, pattern=r"^([a-z0-9][a-z0-9-]{0,39})?$")
    # Prefix of Mendix Business Events topics on this cluster (`<prefix>.businessevents...`).
    mendix_topic_prefix: str | None = None
    # Where a process serves /metrics (its port is a per-process setting): 0.0.0.0 in a container,
    # so Prometheus can reach it.
    metrics_host: str = "127.0.0.1"

    def kafka_client_options(self) -> dict[str, Any]:
        """bootstrap_servers plus the security options, for any aiokafka client."""
        return {"bootstrap_servers": self.kafka_bootstrap, **self.kafka_security_options()}


class DevSettings(ConnectionSettings):
    """`bizevents dev up|down|status`: the local Kafka and PostgreSQL servers."""

    kafka_port: int = Field(default=DEFAULT_KAFKA_PORT, ge=1, le=65535)
    # Unset: the port after BIZEVENTS_KAFKA_PORT, so one variable moves a whole stack.
    kafka_controller_port: int | None = Field(default=None, ge=1, le=65535)
    kafka_heap: str = "1g"
    # SASL/SCRAM listeners and ACLs (`bizevents dev up --secure`).
    kafka_secure: bool = False
    kafka_start_timeout: float = 90.0
    pg_port: int = Field(default=DEFAULT_PG_PORT, ge=1, le=65535)
    pg_user: str = "bizevents"
    pg_database: str = "bizevents"
    pg_bin_dir: Path | None = None
    # PostgreSQL refuses to run as root; this OS user owns the cluster when we are root.
    pg_os_user: str = "postgres"
    project_root: Path = Field(default_factory=find_project_root)
    state_dir: Path | None = None

    @property
    def controller_port(self) -> int:
        return self.kafka_controller_port or self.kafka_port + 1

    @property
    def state(self) -> Path:
        return self.state_dir or self.project_root / ".bizevents"


class RelaySettings(ConnectionSettings):
    """`bizevents relay`: moves committed outbox rows to Kafka."""

    outbox_schema: str = "bizevents"
    relay_batch_size: int = Field(default=1000, ge=1, le=50_000)
    relay_poll_interval: float = Field(default=1.0, gt=0)
    relay_busy_poll_interval: float = Field(default=0.01, gt=0)
    relay_busy_window: float = Field(default=2.0, ge=0)
    relay_standby_interval: float = Field(default=0.5, gt=0)
    relay_mode: str = Field(default="binary", pattern="^(binary|structured)$")
    relay_max_backoff: float = Field(default=5.0, gt=0)
    # A send still unacknowledged after this long means Kafka is unreachable (logged once).
    relay_stall_after: float = Field(default=5.0, gt=0)
    relay_metrics_port: int = 0
    relay_stats_interval: float = Field(default=5.0, gt=0)
    relay_compression: str | None = None
