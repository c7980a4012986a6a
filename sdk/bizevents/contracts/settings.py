"""Settings of the contracts tooling (the `bizevents contracts` commands)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ..settings import ConnectionSettings


class ContractsSettings(ConnectionSettings):
    contracts_path: Path = Field(
        default=Path("contracts"), description="Folder (or file) of the AsyncAPI contracts"
    )
    registry_schema: str = Field(
        default="bizevents_registry",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Schema of the contract registry in PostgreSQL",
    )
