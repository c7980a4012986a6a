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
