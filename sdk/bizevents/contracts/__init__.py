"""Event contracts: AsyncAPI 3 documents, payload validation, compatibility and diffs.

Pure logic (no database, no network): the registry (registry.py) builds on it.
"""

from __future__ import annotations

from .loader import load_contract_texts, load_contracts
from .model import (
    DATASCHEMA_PREFIX,
    Compatibility,
    ContractSet,
    EventContract,
    ServiceDocument,
    canonical_dumps,
)
from .yamlsafe import Limits

__all__ = [
    "DATASCHEMA_PREFIX",
    "Compatibility",
    "ContractSet",
    "EventContract",
    "Limits",
    "ServiceDocument",
    "canonical_dumps",
    "load_contract_texts",
    "load_contracts",
]
