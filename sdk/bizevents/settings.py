"""Settings from the environment: one pydantic-settings class per process, prefix BIZEVENTS_.

All classes share the connection and logging fields, so BIZEVENTS_KAFKA_BOOTSTRAP or
BIZEVENTS_LOG_JSON mean the same thing to every process. Every field carries a description: the
README's table of variables and `bizevents settings` are generated from them.
"""

from __future__ import annotations

import json
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from .errors import ConfigurationError

DEFAULT_KAFKA_PORT = 19092
DEFAULT_PG_PORT = 15432
ENV_PREFIX = "BIZEVENTS_"
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
_SECRET_WORDS = ("password", "secret", "token", "key")


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

    kafka_security_protocol: SecurityProtocol | None = Field(
        default=None, description="Kafka protocol (default: from the SASL and TLS settings)"
    )
    kafka_sasl_mechanism: SaslMechanism = Field(
        default="SCRAM-SHA-512", description="SASL mechanism for Kafka"
    )
    kafka_sasl_username: str | None = Field(default=None, description="Kafka SASL user name")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="Kafka SASL password")
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="CA file for TLS to Kafka (turns TLS on)"
    )

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


class BadSettingError(ConfigurationError, ValueError):
    """A BIZEVENTS_* variable with a bad value (a ValueError too, as pydantic's error was)."""


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in typing.get_args(annotation))
    return False


def split_list(text: str) -> list[Any]:
    """`5,30` (or the JSON `[5, 30]`) as a list; an empty value is an empty list."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list ({exc.msg})") from None
        if not isinstance(value, list):
            raise ValueError("not a list")
        return value
    return [part.strip() for part in text.split(",") if part.strip()]


class ConnectionSettings(KafkaSecuritySettings):
    """Where Kafka and PostgreSQL are (and how to log in to Kafka; defaults point at
    `bizevents dev up`), and logging."""

    # Values are not JSON-decoded: lists are written `5,30` (JSON lists are accepted too).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", enable_decoding=False)

    kafka_bootstrap: str = Field(
        default=f"127.0.0.1:{DEFAULT_KAFKA_PORT}",
        description="Kafka bootstrap servers, host:port[,host:port...]",
    )
    database_url: str = Field(
        default=f"postgresql://bizevents@127.0.0.1:{DEFAULT_PG_PORT}/bizevents",
        description="PostgreSQL URL (outbox, inbox, dead-letter store, registry)",
    )
    # The space (dev, test, prod, a sandbox) whose topics and consumer groups this process
    # uses; none: unscoped names. See bizevents.mesh.
    space: str | None = Field(
        default=None,
        pattern=r"^([a-z0-9][a-z0-9-]{0,39})?$",
        description="Space (dev, test, prod...) scoping topics and consumer groups",
    )
    mendix_topic_prefix: str | None = Field(
        default=None, description="Prefix of Mendix Business Events topics on this cluster"
    )
    # Where a process serves /metrics (its port is a per-process setting): 0.0.0.0 in a container,
    # so Prometheus can reach it.
    metrics_host: str = Field(
        default="127.0.0.1", description="Address /metrics listens on (0.0.0.0 in a container)"
    )
    log_level: LogLevel = Field(
        default="INFO",
        description="Level of bizevents' own log lines (DEBUG, INFO, WARNING, ERROR)",
    )
    log_json: bool = Field(default=False, description="JSON log lines (same as --log-json)")
    library_log_level: LogLevel = Field(
        default="WARNING",
        description="Level of the libraries' log lines (aiokafka, asyncpg, ...)",
    )

    def __init__(self, **values: Any) -> None:
        # A bad variable is one clear line naming it, never a pydantic traceback.
        try:
            super().__init__(**values)
        except pydantic.ValidationError as exc:
            raise BadSettingError(settings_problem(exc)) from None
        except SettingsError as exc:
            raise BadSettingError(f"settings: {exc}") from None

    @field_validator("log_level", "library_log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        # Only known levels: a bad value is echoed as the user wrote it.
        known = isinstance(value, str) and value.upper() in typing.get_args(LogLevel)
        return value.upper() if known else value

    @field_validator("*", mode="before")
    @classmethod
    def _lists_from_text(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if isinstance(value, str) and field is not None and _is_list(field.annotation):
            return split_list(value)
        return value

    def kafka_client_options(self) -> dict[str, Any]:
        """bootstrap_servers plus the security options, for any aiokafka client."""
        return {"bootstrap_servers": self.kafka_bootstrap, **self.kafka_security_options()}

    def connection_values(self) -> dict[str, Any]:
        """The shared fields (Kafka and its login, PostgreSQL, space, logging) with their
        values, to build another process's settings that connect the same way:
        `RelaySettings(**broker.connection_values(), outbox_schema=...)`. The password stays a
        SecretStr."""
        return {name: getattr(self, name) for name in ConnectionSettings.model_fields}


class DevSettings(ConnectionSettings):
    """`bizevents dev up|down|status`: the local Kafka and PostgreSQL servers."""

    kafka_port: int = Field(
        default=DEFAULT_KAFKA_PORT, ge=1, le=65535, description="Port of the local Kafka"
    )
    kafka_controller_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the local Kafka's controller (default: BIZEVENTS_KAFKA_PORT + 1)",
    )
    kafka_heap: str = Field(default="1g", description="Maximum heap of the local Kafka's JVM")
    # SASL/SCRAM listeners and ACLs (`bizevents dev up --secure`).
    kafka_secure: bool = Field(
        default=False, description="Local Kafka with SASL/SCRAM and ACLs (dev up --secure)"
    )
    kafka_start_timeout: float = Field(
        default=90.0, gt=0, description="Seconds the local Kafka gets to answer after start"
    )
    pg_port: int = Field(
        default=DEFAULT_PG_PORT, ge=1, le=65535, description="Port of the local PostgreSQL"
    )
    pg_user: str = Field(default="bizevents", description="Database user of the local PostgreSQL")
    pg_database: str = Field(default="bizevents", description="Database created in it")
    pg_bin_dir: Path | None = Field(
        default=None,
        description="Folder of initdb/pg_ctl (default: the newest under /usr/lib/postgresql)",
    )
    pg_os_user: str = Field(
        default="postgres",
        description="OS user owning the cluster when run as root (PostgreSQL refuses root)",
    )
    project_root: Path = Field(
        default_factory=find_project_root,
        description="The bizevents checkout (holds deploy/kafka/pom.xml)",
    )
    state_dir: Path | None = Field(
        default=None, description="Data and logs of the local services (default: .bizevents)"
    )
    kafka_jars_dir: Path | None = Field(
        default=None,
        description="Kafka server jars, shared by all stacks (default: ~/.cache/bizevents)",
    )

    @property
    def controller_port(self) -> int:
        return self.kafka_controller_port or self.kafka_port + 1

    @property
    def kafka_jars(self) -> Path:
        if self.kafka_jars_dir is not None:
            return self.kafka_jars_dir
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "bizevents" / "kafka-jars"

    @property
    def state(self) -> Path:
        return self.state_dir or self.project_root / ".bizevents"


class RelaySettings(ConnectionSettings):
    """`bizevents relay`: moves committed outbox rows to Kafka."""

    outbox_schema: str = Field(default="bizevents", description="Schema of the outbox table")
    relay_batch_size: int = Field(
        default=1000, ge=1, le=50_000, description="Rows claimed and sent per batch"
    )
    relay_poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between polls when idle (NOTIFY wakes it earlier)"
    )
    relay_busy_poll_interval: float = Field(
        default=0.01, gt=0, description="Seconds between polls while rows keep coming"
    )
    relay_busy_window: float = Field(
        default=2.0, ge=0, description="Seconds after the last rows during which it polls busily"
    )
    relay_standby_interval: float = Field(
        default=0.5, gt=0, description="Seconds between a standby relay's tries to take over"
    )
    relay_mode: Literal["binary", "structured"] = Field(
        default="binary",
        description="CloudEvents mode on Kafka: binary or structured",
    )
    relay_max_backoff: float = Field(
        default=5.0, gt=0, description="Longest wait between retries while Kafka is down"
    )
    # A send still unacknowledged after this long means Kafka is unreachable (logged once).
    relay_stall_after: float = Field(
        default=5.0, gt=0, description="Seconds without a Kafka ack before it counts as a stall"
    )
    relay_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Port of /metrics (0: no metrics server)"
    )
    relay_stats_interval: float = Field(
        default=5.0, gt=0, description="Seconds between outbox gauge updates"
    )
    relay_compression: str | None = Field(
        default=None, description="Kafka compression: gzip, snappy, lz4 or zstd (default: none)"
    )


def settings_problem(exc: pydantic.ValidationError) -> str:
    """`BIZEVENTS_RETRY_DELAYS='5,x' (item 2): input should be a valid number`, one per error."""
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        field = loc[0] if loc else "?"
        variable = ENV_PREFIX + field.upper()
        where = f" (item {int(loc[1]) + 1})" if len(loc) > 1 and loc[1].isdigit() else ""
        message = str(error["msg"])
        message = message[0].lower() + message[1:] if message else message
        message = message.removeprefix("value error, ")
        value = error.get("input")
        if any(word in field for word in _SECRET_WORDS):
            shown = "***"
        elif isinstance(value, (str, int, float)):
            from .logging import redact_url

            shown = repr(redact_url(value) if isinstance(value, str) else value)
        else:
            shown = ""
        problems.append(f"{variable}{'=' + shown if shown else ''}{where}: {message}")
    return "; ".join(problems)
