"""Settings of the contracts tooling (the `bizevents contracts` commands)."""

from __future__ import annotations

from pathlib import Path

from ..settings import ConnectionSettings


class ContractsSettings(ConnectionSettings):
    """BIZEVENTS_CONTRACTS_PATH: the folder of AsyncAPI documents (default ./contracts)."""

    contracts_path: Path = Path("contracts")
