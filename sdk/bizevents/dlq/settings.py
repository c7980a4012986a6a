"""Settings of the dead-letter tools (`bizevents dlq ...`, `bizevents replay`, the ingester)."""

from __future__ import annotations

from pydantic import Field

from ..settings import ConnectionSettings


class DeadLetterSettings(ConnectionSettings):
    dlq_schema: str = Field(default="bizevents", description="Schema of the dead-letter store")
    dlq_ingester_group: str = Field(
        default="bizevents-dlq-ingester", description="Consumer group of `bizevents dlq ingest`"
    )
    dlq_topic_pattern: str = Field(
        default=r"^bizevents\.dlq\..+", description="Topics `bizevents dlq ingest` reads (regex)"
    )
    dlq_metadata_max_age_ms: int = Field(
        default=30_000, ge=1000, description="How soon the ingester sees a new group's topic (ms)"
    )
    replay_topic_partitions: int = Field(
        default=3, ge=1, description="Partitions of a replay topic created by a replay"
    )
    topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replication factor of the topics bizevents creates (3 in production)",
    )
    replay_batch: int = Field(default=500, ge=1, description="Records copied per replay batch")
