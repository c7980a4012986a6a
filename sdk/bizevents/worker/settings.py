"""Settings of the `bizevents worker` process."""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from ..settings import ConnectionSettings
from .membership import for_process, group_instance_id


class WorkerSettings(ConnectionSettings):
    """Environment variables BIZEVENTS_<FIELD>, e.g. BIZEVENTS_CONCURRENCY=32."""

    # Handlers running at once across all keys and partitions of the process.
    concurrency: int = Field(default=64, ge=1)
    # Backpressure: a partition is paused while this many of its records are fetched but not
    # committable yet.
    max_pending_per_partition: int = Field(default=1000, ge=1)
    fetch_max_records: int = Field(default=500, ge=1)
    # A resumed partition is fetched only after the pending long-poll returns: keep it short.
    fetch_max_wait_ms: int = Field(default=100, ge=0)
    # Default retry policy (a subscriber's RetryPolicy overrides any of these).
    retry_attempts: int = Field(default=3, ge=1)  # immediate attempts, the first included
    retry_backoff_initial: float = Field(default=0.1, ge=0)
    retry_backoff_max: float = Field(default=2.0, ge=0)
    retry_delays: list[float] = Field(default_factory=lambda: [10.0, 60.0, 600.0])
    # Offsets are committed together, at most this often (never one commit per message).
    commit_interval: float = Field(default=0.5, gt=0)
    shutdown_timeout: float = Field(default=30.0, ge=0)
    revoke_timeout: float = Field(default=10.0, ge=0)
    # After an assignment, source partitions wait at most this long for the retry partitions to
    # be read (so parked records hold their keys again before later records run).
    warmup_timeout: float = Field(default=30.0, ge=0)
    metrics_port: int = 0
    # Only these groups (empty: every group the app subscribes with).
    groups: list[str] = Field(default_factory=list)
    auto_offset_reset: str = "earliest"
    # A crashed worker's partitions move to the others after this long (broker minimum: 6 s).
    session_timeout_ms: int = Field(default=10_000, ge=1000)
    # Static group membership: a restarted worker with the same id takes its partitions back
    # without waiting out the session timeout. Empty: the pod name in a Kubernetes StatefulSet,
    # none elsewhere; "off": never (see membership.py).
    group_instance_id: str = ""
    # Set by `bizevents worker --processes N` in each child (0..N-1).
    process_index: int | None = Field(default=None, ge=0)
    # New retry/dead-letter/replay topics get this many partitions (0: as many as the widest
    # source topic of the group).
    topic_partitions: int = Field(default=0, ge=0)
    topic_timeout: float = Field(default=30.0, gt=0)
    # How soon a topic created after start (e.g. a source topic) is noticed.
    metadata_max_age_ms: int = Field(default=30_000, ge=1000)
    inbox_schema: str = "bizevents"
    # Also record dead letters straight into the PostgreSQL store (`bizevents dlq list`); without
    # it the store learns them from the dead-letter topic through its ingester.
    dlq_store: bool = False
    dlq_schema: str = "bizevents"
    inbox_retention_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    inbox_cleanup_interval: float = Field(default=600.0, gt=0)
    log_level: str = "INFO"
    log_json: bool = False

    def static_member_id(self) -> str | None:
        """This process's `group.instance.id`, or None for dynamic membership."""
        configured = group_instance_id(self.group_instance_id, os.environ)
        return for_process(configured, self.process_index)

    @field_validator("retry_delays")
    @classmethod
    def _positive(cls, delays: list[float]) -> list[float]:
        if any(d <= 0 for d in delays):
            raise ValueError("retry delays must be positive seconds")
        return delays

    @field_validator("auto_offset_reset")
    @classmethod
    def _reset(cls, value: str) -> str:
        if value not in ("earliest", "latest"):
            raise ValueError("auto_offset_reset is 'earliest' or 'latest'")
        return value
