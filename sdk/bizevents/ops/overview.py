"""The operations overview: what `/ops` and `bizevents status` show, as plain data.

Two sources fill it (`OverviewSource`): the Prometheus HTTP API, which sees every process, or,
without Prometheus, the state the processes keep in PostgreSQL (outbox rows, relay locks, dead
letters). Consumer lag lives in Kafka and the metrics, so only the Prometheus source has it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import Field

from ..settings import ConnectionSettings


class OpsSettings(ConnectionSettings):
    """`/ops` and `bizevents status` (prefix BIZEVENTS_)."""

    prometheus_url: str | None = Field(
        default=None, description="Prometheus to read figures from (else PostgreSQL)"
    )
    outbox_schema: str = Field(default="bizevents", description="Schema of the outbox table")
    # More outboxes to show when reading PostgreSQL (Prometheus finds every relayed outbox).
    ops_outbox_schemas: list[str] = Field(
        default_factory=list, description="More outbox schemas to show, e.g. shop,billing"
    )
    dlq_schema: str = Field(default="bizevents", description="Schema of the dead-letter store")
    ops_plot_minutes: int = Field(default=30, description="Minutes of history in the plots")
    ops_timeout: float = Field(default=5.0, description="Seconds a status query may take")

    @property
    def outbox_schemas(self) -> list[str]:
        return list(dict.fromkeys([self.outbox_schema, *self.ops_outbox_schemas]))


Points = tuple[tuple[float, float], ...]  # (unix time, value)


@dataclass(frozen=True)
class OutboxStatus:
    schema: str
    pending: float | None = None
    oldest_age_seconds: float | None = None
    active_relays: int | None = None
    standby_relays: int | None = None
    relayed_per_second: float | None = None
    pending_by_type: dict[str, int] = field(default_factory=dict)
    relay_holder: str | None = None  # who holds the relay lock (PostgreSQL source)
    kafka_up: bool | None = None  # the active relay's sends succeed
    since_last_send_seconds: float | None = None


@dataclass(frozen=True)
class GroupStatus:
    group: str
    lag: float | None = None
    per_second: dict[str, float] = field(default_factory=dict)  # by outcome
    dead_letters_last_hour: float | None = None
    dead_letters_stored: int | None = None  # 'dead' letters in the store, waiting for a decision
    last_dead_letter: str | None = None  # ISO time


@dataclass(frozen=True)
class FlowStatus:
    """Handling per event type and group (attempts per second)."""

    event_type: str
    group: str
    per_second: float
    total: float | None = None  # handler runs since the workers started


@dataclass(frozen=True)
class Plot:
    title: str
    unit: str
    series: dict[str, Points]


@dataclass(frozen=True)
class Overview:
    source: str  # "prometheus" or "postgresql"
    outboxes: tuple[OutboxStatus, ...] = ()
    groups: tuple[GroupStatus, ...] = ()
    flows: tuple[FlowStatus, ...] = ()
    plots: tuple[Plot, ...] = ()
    problems: tuple[str, ...] = ()  # what could not be read, said plainly

    def to_dict(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            if hasattr(obj, "__dataclass_fields__"):
                return {k: plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
            if isinstance(obj, dict):
                return {k: plain(v) for k, v in obj.items()}
            if isinstance(obj, tuple | list):
                return [plain(v) for v in obj]
            return obj

        data: dict[str, Any] = plain(self)
        return data


class OverviewSource(Protocol):
    async def overview(self) -> Overview: ...
