"""Event contracts: AsyncAPI 3 documents, payload validation, compatibility and diffs.

Pure logic (no database, no network): the registry (registry.py) builds on it.
"""

from __future__ import annotations

from .compat import (
    Violation,
    check_compatibility,
    check_compatibility_transitive,
    check_history,
)
from .diff import Change, ContractDiff, diff_contracts, diff_event, diff_schema
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
    "Change",
    "Compatibility",
    "ContractDiff",
    "ContractSet",
    "EventContract",
    "Limits",
    "ServiceDocument",
    "Violation",
    "canonical_dumps",
    "check_compatibility",
    "check_compatibility_transitive",
    "check_history",
    "diff_contracts",
    "diff_event",
    "diff_schema",
    "load_contract_texts",
    "load_contracts",
]
