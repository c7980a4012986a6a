"""The contracts the gateway validates against: the registry's latest version of each type,
cached for a few seconds (a registration through this broker refreshes at once)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any, Protocol

from bizevents.contracts import ContractSet, EventContract
from bizevents.contracts.registry import Registry


class ContractSource(Protocol):
    async def current(self) -> ContractSet: ...

    def invalidate(self) -> None:
        """Forget any cached set (a registration just happened)."""


class FixedContracts:
    """A given set (tests, and gateways that run without a registry)."""

    def __init__(self, contracts: ContractSet) -> None:
        self.contracts = contracts

    async def current(self) -> ContractSet:
        return self.contracts

    def invalidate(self) -> None:
        pass


class RegistryContracts:
    def __init__(self, registry: Registry, ttl: float = 5.0) -> None:
        self.registry = registry
        self.ttl = ttl
        self._cached: ContractSet | None = None
        self._loaded = 0.0
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._cached = None

    async def current(self) -> ContractSet:
        cached = self._cached
        if cached is not None and time.monotonic() - self._loaded < self.ttl:
            return cached
        async with self._lock:
            if self._cached is not None and time.monotonic() - self._loaded < self.ttl:
                return self._cached
            latest = await self.registry.event_types()
            contracts = {v.event_type: _with_deprecation(v) for v in latest}
            self._cached = ContractSet(contracts)
            self._loaded = time.monotonic()
            return self._cached


def _with_deprecation(version: Any) -> EventContract:
    """The contract, carrying the registry's deprecation so publishers are warned."""
    contract = EventContract.from_dict(version.contract)
    if version.deprecated_at is None:
        return contract
    reason = f": {version.deprecation_reason}" if version.deprecation_reason else ""
    since = f"since {version.deprecated_at.date().isoformat()}{reason}"
    return dataclasses.replace(contract, deprecation=since)
