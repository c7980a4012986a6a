"""Broker settings from the environment (prefix BIZEVENTS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from bizevents.settings import ConnectionSettings


class BrokerSettings(ConnectionSettings):
    """`bizevents broker serve`: the registry API, the served contract docs, health and metrics."""

    broker_host: str = Field(default="127.0.0.1", description="Listen address of the broker")
    broker_port: int = Field(default=8080, ge=0, le=65535, description="Listen port of the broker")
    start_timeout: float = Field(
        default=120.0,
        ge=0,
        description="Seconds to wait at start for the database to answer (0: forever)",
    )
    registry_schema: str = Field(
        default="bizevents_registry",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the contract registry in PostgreSQL",
    )
    contracts_path: Path | None = Field(
        default=None, description="Contracts registered at start-up (idempotent)"
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that registry writes (register, deprecate) need",
    )
    registry_open_writes: bool = Field(
        default=False,
        description="Allow registry writes without BIZEVENTS_ADMIN_TOKEN (local development)",
    )
    # Upper bound on a posted AsyncAPI document: contracts are small, hostile bodies are not.
    max_document_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest AsyncAPI document the registry accepts"
    )

    # The HTTP gateway: apps, keys, idempotency records and its outbox live in this schema.
    gateway_schema: str = Field(
        default="bizevents_gateway",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the HTTP gateway's tables (apps, keys, idempotency, outbox)",
    )
    gateway_relay: bool = Field(
        default=True,
        description="Run a relay for the gateway's outbox inside the broker (one leads)",
    )
    gateway_pool_size: int = Field(
        default=10, ge=1, le=200, description="Database connections of the gateway"
    )
    gateway_max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the gateway accepts"
    )
    gateway_max_batch: int = Field(
        default=500, ge=1, le=10_000, description="Most events in one batch request"
    )
    gateway_rate_limit: float = Field(
        default=1000.0, ge=0, description="Requests per second per app and broker (0: no limit)"
    )
    gateway_rate_burst: float = Field(
        default=2000.0, ge=1, description="Burst of requests an app may send above the rate"
    )
    gateway_idempotency_retention: float = Field(
        default=86400.0, gt=0, description="Seconds an Idempotency-Key is remembered"
    )
    gateway_contracts_refresh: float = Field(
        default=5.0, ge=0, description="Seconds between re-reads of the registry's contracts"
    )
    # Pull subscriptions: default seconds to commit a batch before it is delivered again, and
    # seconds after which an idle client session leaves the consumer group.
    gateway_commit_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds a pulled batch may stay uncommitted before it comes again",
    )
    gateway_session_idle: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="Seconds after which an idle pull session leaves the consumer group",
    )
    # Webhooks: delivered by workers inside the broker. Targets must be public addresses unless
    # listed here (addresses or CIDR networks, e.g. ["10.0.0.0/8"]; tests allow 127.0.0.1).
    gateway_webhooks: bool = Field(default=True, description="Deliver webhook subscriptions")
    gateway_webhook_allow: list[str] = Field(
        default_factory=list,
        description="Private addresses or networks webhooks may call, e.g. 10.0.0.0/8",
    )
    gateway_webhook_timeout: float = Field(
        default=10.0, gt=0, le=120, description="Seconds a webhook call may take"
    )
    gateway_webhook_attempts: int = Field(
        default=3, ge=1, le=20, description="Immediate attempts per webhook delivery"
    )
    gateway_webhook_retry_delays: list[float] = Field(
        default_factory=lambda: [10.0, 60.0, 600.0],
        description="Delayed webhook retries in seconds, e.g. 10,60,600",
    )

    # The event log (read by OData's Events and SOAP's GetEventStatus): a consumer of the
    # contract topics copies events into `<gateway_schema>.event_log`, kept this many seconds.
    event_log: bool = Field(default=True, description="Keep the event log (OData, SOAP)")
    event_log_retention: float = Field(
        default=7 * 86400.0, gt=0, description="Seconds events stay in the event log"
    )
    # OData: rows per page (then @odata.nextLink), the largest $top, seconds a query may run.
    odata_page_size: int = Field(
        default=1000, ge=1, le=10_000, description="OData rows per page (then nextLink)"
    )
    odata_max_top: int = Field(default=10_000, ge=1, le=1_000_000, description="Largest OData $top")
    odata_timeout: float = Field(
        default=5.0, gt=0, le=300, description="Seconds an OData query may run"
    )
    # Where the dead-letter store lives (the same setting as `bizevents dlq`): OData's DeadLetters.
    dlq_schema: str = Field(
        default="bizevents",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the dead-letter store",
    )
