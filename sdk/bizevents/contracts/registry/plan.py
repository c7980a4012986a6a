"""The registry's decisions, pure: which version each contract gets, and every problem that
refuses the registration (compatibility under the effective mode, metadata, removed types)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ...errors import Problem
from ..compat import Violation, check_compatibility
from ..model import Compatibility, EventContract

# (old schema, new schema, mode without TRANSITIVE) -> every violation.
Checker = Callable[[Mapping[str, Any], Mapping[str, Any], Compatibility], Sequence[Violation]]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class ContractVersion:
    """One registered version of an event type."""

    event_type: str
    version: int
    fingerprint: str
    service: str
    compatibility: Compatibility
    contract: dict[str, Any]
    registered_at: datetime | None = None
    deprecated_at: datetime | None = None
    deprecation_reason: str | None = None

    @property
    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = self.contract["schema"]
        return schema

    @property
    def deprecated(self) -> bool:
        return self.deprecated_at is not None

    def event_contract(self) -> EventContract:
        return EventContract.from_dict(self.contract)

    def to_json(self, *, with_contract: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_type": self.event_type,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "service": self.service,
            "compatibility": self.compatibility.value,
            "registered_at": _iso(self.registered_at),
            "deprecated": self.deprecated,
            "deprecated_at": _iso(self.deprecated_at),
            "deprecation_reason": self.deprecation_reason,
        }
        if with_contract:
            out["contract"] = self.contract
        return out


@dataclass(frozen=True)
class StoredServiceDocument:
    """The latest AsyncAPI document registered for a service."""

    service: str
    version: str
    fingerprint: str
    document: dict[str, Any]
    text: str
    registered_at: datetime | None = None


@dataclass(frozen=True)
class Registration:
    """The outcome for one event type: its version, and whether this call created it."""

    event_type: str
    version: int
    fingerprint: str
    created: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "created": self.created,
        }


@dataclass
class Plan:
    """What registering would do: one Registration per contract, or the problems refusing it."""

    registrations: list[Registration] = field(default_factory=list)
    new: dict[str, EventContract] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        # A refused registration creates nothing: no entry may claim "created": true.
        return {
            "compatible": not self.problems,
            "registrations": [
                {**r.to_json(), "created": r.created and not self.problems}
                for r in self.registrations
            ],
            "problems": [problem_json(p) for p in self.problems],
        }


def problem_json(problem: Problem) -> dict[str, str]:
    return {
        "against": problem.file,
        "pointer": problem.pointer,
        "rule": problem.rule,
        "message": problem.message,
    }


def _violation_problem(violation: Violation, where: str) -> Problem:
    """The checker's Violation as a Problem naming the version it was checked against."""
    return violation.as_problem(where)


def effective_mode(registered: Compatibility, declared: Compatibility) -> Compatibility:
    """The stricter of the latest registered mode and the newly declared one: tightening applies
    at once, loosening (e.g. to NONE) only after a registration that changes nothing else."""
    backward = registered.backward or declared.backward
    forward = registered.forward or declared.forward
    if not (backward or forward):
        return Compatibility.NONE
    base = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD"
    transitive = registered.transitive or declared.transitive
    return Compatibility(base + ("_TRANSITIVE" if transitive else ""))


def compatibility_problems(
    history: Sequence[ContractVersion], new: EventContract, checker: Checker
) -> list[Problem]:
    """Every way `new` breaks the effective mode, against the latest version in `history`
    (oldest first) or, when transitive, against every version."""
    if not history:
        return []
    latest = history[-1]
    mode = effective_mode(latest.compatibility, new.compatibility)
    if mode is Compatibility.NONE:
        return []
    where = f"{latest.event_type} v{latest.version}"
    problems: list[Problem] = []
    # What producers and subscribers bind to beyond the payload: the checker only sees schemas.
    for key, rule, label in (
        ("source", "source-changed", "CloudEvents source"),
        ("topic", "topic-changed", "topic"),
        ("key_field", "key-changed", "ordering key field"),
    ):
        before, after = latest.contract.get(key), getattr(new, key)
        if before != after:
            problems.append(
                Problem(f"{label} changed from {before!r} to {after!r}", "/", where, rule)
            )
    targets = history if mode.transitive else history[-1:]
    for old in reversed(targets):
        at = f"{old.event_type} v{old.version}"
        problems.extend(
            _violation_problem(v, at) for v in checker(old.schema, new.schema, mode.base)
        )
    return problems


def removal_problems(
    services: Iterable[str], present: Iterable[str], latest_by_type: Mapping[str, ContractVersion]
) -> list[Problem]:
    """Event types registered for these services but missing from the new set: breaking, unless
    the latest version is deprecated (the way to retire an event) or its mode is NONE."""
    scope, kept = set(services), set(present)
    problems = []
    for event_type, latest in sorted(latest_by_type.items()):
        if latest.service not in scope or event_type in kept:
            continue
        if latest.deprecated or latest.compatibility is Compatibility.NONE:
            continue
        problems.append(
            Problem(
                f"event type {event_type} was removed from service {latest.service!r}; "
                "deprecate it in the registry first",
                "/",
                f"{event_type} v{latest.version}",
                "event-type-removed",
            )
        )
    return problems


def plan_registration(
    contracts: Sequence[EventContract],
    history_by_type: Mapping[str, Sequence[ContractVersion]],
    *,
    removal_scope: Iterable[str] = (),
    checker: Checker | None = None,
) -> Plan:
    """Decide versions and problems for `contracts` given the registered histories (pure)."""
    plan = Plan()
    check = checker or check_compatibility
    for contract in contracts:
        history = list(history_by_type.get(contract.event_type, ()))
        digest = contract.fingerprint()
        existing = next((v for v in history if v.fingerprint == digest), None)
        if existing is not None:
            plan.registrations.append(
                Registration(contract.event_type, existing.version, digest, False)
            )
            continue
        plan.problems.extend(compatibility_problems(history, contract, check))
        version = (history[-1].version if history else 0) + 1
        plan.registrations.append(Registration(contract.event_type, version, digest, True))
        plan.new[contract.event_type] = contract
    latest = {t: h[-1] for t, h in history_by_type.items() if h}
    present = [c.event_type for c in contracts]
    plan.problems.extend(removal_problems(removal_scope, present, latest))
    return plan
