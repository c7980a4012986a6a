"""The contract registry: versioned event contracts in PostgreSQL, gated by compatibility modes.

Each event type has versions 1, 2, 3... A version is content-addressed by
`EventContract.fingerprint()`, so registering the same content again changes nothing and returns
the existing version. A new version must satisfy the stricter of the latest registered mode and
the newly declared one (so loosening a mode is a registration of its own), checked against the
latest version or, for *_TRANSITIVE modes, against every earlier one. A refusal lists every
violation at once. Registering a ContractSet also stores each service's AsyncAPI document (the
broker serves them) and refuses dropping an event type that was not deprecated first.

`plan_registration` is the pure decision; `Registry` does the I/O around it in one transaction,
holding per-event-type advisory locks so concurrent registrations cannot reuse a version number.
"""

from __future__ import annotations

from ...errors import VersionNotFoundError
from .plan import (
    Checker,
    ContractVersion,
    Plan,
    Registration,
    StoredServiceDocument,
    compatibility_problems,
    effective_mode,
    plan_registration,
    problem_json,
    removal_problems,
)
from .store import COMPONENT, DEFAULT_SCHEMA, MIGRATIONS, Registry

__all__ = [
    "COMPONENT",
    "DEFAULT_SCHEMA",
    "MIGRATIONS",
    "Checker",
    "ContractVersion",
    "Plan",
    "Registration",
    "Registry",
    "StoredServiceDocument",
    "VersionNotFoundError",
    "compatibility_problems",
    "effective_mode",
    "plan_registration",
    "problem_json",
    "removal_problems",
]
