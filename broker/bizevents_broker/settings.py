"""Broker settings from the environment (prefix BIZEVENTS_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from bizevents.settings import ConnectionSettings


class BrokerSettings(ConnectionSettings):
    """`bizevents broker serve`: the registry API, the served contract docs, health and metrics."""

    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=8080, ge=0, le=65535)
    registry_schema: str = Field(default="bizevents_registry", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # When set, these contracts are registered at start-up (idempotent; refused if incompatible).
    contracts_path: Path | None = None
    # When set, registering and deprecating need `Authorization: Bearer <token>`.
    admin_token: SecretStr | None = None
    # Upper bound on a posted AsyncAPI document: contracts are small, hostile bodies are not.
    max_document_bytes: int = Field(default=1_000_000, ge=1024)
    log_json: bool = False

    # The HTTP gateway: apps, keys, idempotency records and its outbox live in this schema.
    gateway_schema: str = Field(default="bizevents_gateway", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # Run a relay for the gateway's outbox inside the broker (several brokers: one leads).
    gateway_relay: bool = True
    gateway_pool_size: int = Field(default=10, ge=1, le=200)
    gateway_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    gateway_max_batch: int = Field(default=500, ge=1, le=10_000)
    # Requests per second per app (token bucket per broker process); 0 turns the limit off.
    gateway_rate_limit: float = Field(default=1000.0, ge=0)
    gateway_rate_burst: float = Field(default=2000.0, ge=1)
    gateway_idempotency_retention: float = Field(default=86400.0, gt=0)
    gateway_contracts_refresh: float = Field(default=5.0, ge=0)
    # Pull subscriptions: default seconds to commit a batch before it is delivered again, and
    # seconds after which an idle client session leaves the consumer group.
    gateway_commit_timeout: float = Field(default=60.0, gt=0, le=3600)
    gateway_session_idle: float = Field(default=60.0, ge=5, le=3600)
    # Webhooks: delivered by workers inside the broker. Targets must be public addresses unless
    # listed here (addresses or CIDR networks, e.g. ["10.0.0.0/8"]; tests allow 127.0.0.1).
    gateway_webhooks: bool = True
    gateway_webhook_allow: list[str] = Field(default_factory=list)
    gateway_webhook_timeout: float = Field(default=10.0, gt=0, le=120)
    gateway_webhook_attempts: int = Field(default=3, ge=1, le=20)
    gateway_webhook_retry_delays: list[float] = Field(default_factory=lambda: [10.0, 60.0, 600.0])

    # The event log (read by OData's Events and SOAP's GetEventStatus): a consumer of the
    # contract topics copies events into `<gateway_schema>.event_log`, kept this many seconds.
    event_log: bool = True
    event_log_retention: float = Field(default=7 * 86400.0, gt=0)
    # OData: rows per page (then @odata.nextLink), the largest $top, seconds a query may run.
    odata_page_size: int = Field(default=1000, ge=1, le=10_000)
    odata_max_top: int = Field(default=10_000, ge=1, le=1_000_000)
    odata_timeout: float = Field(default=5.0, gt=0, le=300)
    # Where the dead-letter store lives (the same setting as `bizevents dlq`): OData's DeadLetters.
    dlq_schema: str = Field(default="bizevents", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
