"""Settings from the environment: one pydantic-settings class per process, prefix BIZEVENTS_.

All classes share the connection fields, so BIZEVENTS_KAFKA_BOOTSTRAP and
BIZEVENTS_DATABASE_URL mean the same thing to every process.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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


class ConnectionSettings(BaseSettings):
    """Where Kafka and PostgreSQL are; defaults point at `bizevents dev up`."""

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


class DevSettings(ConnectionSettings):
    """`bizevents dev up|down|status`: the local Kafka and PostgreSQL servers."""

    kafka_port: int = DEFAULT_KAFKA_PORT
    kafka_controller_port: int = DEFAULT_KAFKA_PORT + 1
    kafka_heap: str = "1g"
    kafka_start_timeout: float = 90.0
    pg_port: int = DEFAULT_PG_PORT
    pg_user: str = "bizevents"
    pg_database: str = "bizevents"
    pg_bin_dir: Path | None = None
    # PostgreSQL refuses to run as root; this OS user owns the cluster when we are root.
    pg_os_user: str = "postgres"
    project_root: Path = Field(default_factory=find_project_root)
    state_dir: Path | None = None

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
