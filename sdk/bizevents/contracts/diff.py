"""Contract-level diff between two ContractSets (pure logic).

Every change is listed and classified, for each base mode (BACKWARD, FORWARD, FULL, NONE), as
breaking or not. Payload schema changes are classified by the compatibility checker; contract
changes that break consumers whatever the schema says (event type removed, CloudEvents type,
topic or key field changed) are breaking under every mode: NONE only waives payload checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .compat import Violation, check_compatibility
from .model import Compatibility, ContractSet, EventContract
from .refs import join

MODES = (Compatibility.BACKWARD, Compatibility.FORWARD, Compatibility.FULL, Compatibility.NONE)
_ALWAYS = {m.value: True for m in MODES}
_NEVER = {m.value: False for m in MODES}


@dataclass(frozen=True)
class Change:
    event_type: str
    kind: str  # event-added, event-removed, type-changed, topic-changed, key-changed, schema, ...
    message: str
    pointer: str = ""
    rule: str = ""
    breaking: Mapping[str, bool] = field(default_factory=lambda: dict(_NEVER))
    old: Any = None
    new: Any = None

    def breaks(self, mode: Compatibility | str) -> bool:
        return bool(self.breaking.get(Compatibility(mode).base.value, False))

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_type": self.event_type,
            "kind": self.kind,
            "pointer": self.pointer,
            "rule": self.rule,
            "message": self.message,
            "breaking": dict(self.breaking),
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True)
class ContractDiff:
    changes: tuple[Change, ...]
    # The mode each event type is governed by (the new contract's, else the old one's).
    modes: Mapping[str, Compatibility]

    def breaking(self) -> list[Change]:
        """Changes that break the mode of their own event type."""
        return [
            c
            for c in self.changes
            if c.breaks(self.modes.get(c.event_type, Compatibility.BACKWARD))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.to_dict() for c in self.changes],
            "modes": {k: v.value for k, v in self.modes.items()},
            "breaking": [c.to_dict() for c in self.breaking()],
        }


def diff_contracts(old: ContractSet, new: ContractSet) -> ContractDiff:
    """Every change from `old` to `new`, each classified under every mode."""
    changes: list[Change] = []
    modes: dict[str, Compatibility] = {}
    removed = [c for c in old if c.event_type not in new]
    added = [c for c in new if c.event_type not in old]
    # A channel that kept its place but changed its CloudEvents type: one change, not two.
    by_place = {(c.service, c.channel): c for c in added}
    for gone in removed:
        modes[gone.event_type] = gone.compatibility
        successor = by_place.pop((gone.service, gone.channel), None)
        if successor is not None:
            added.remove(successor)
            changes.append(
                Change(
                    gone.event_type,
                    "type-changed",
                    f"CloudEvents type changed to {successor.event_type!r} (service "
                    f"{gone.service}, channel {gone.channel}): consumers of the old type get "
                    "nothing; publish a new major version beside the old one instead",
                    rule="type-changed",
                    breaking=dict(_ALWAYS),
                    old=gone.event_type,
                    new=successor.event_type,
                )
            )
        else:
            changes.append(
                Change(
                    gone.event_type,
                    "event-removed",
                    f"event type removed (was in service {gone.service}): deprecate it first",
                    rule="event-removed",
                    breaking=dict(_ALWAYS),
                    old=gone.event_type,
                )
            )
    for fresh in added:
        modes[fresh.event_type] = fresh.compatibility
        changes.append(
            Change(
                fresh.event_type,
                "event-added",
                f"new event type in service {fresh.service}",
                rule="event-added",
                new=fresh.event_type,
            )
        )
    for before in old:
        if before.event_type in new:
            after = new.get(before.event_type)
            modes[after.event_type] = after.compatibility
            changes.extend(diff_event(before, after))
    return ContractDiff(tuple(changes), modes)


def diff_event(old: EventContract, new: EventContract) -> list[Change]:
    """Changes between two versions of one event type."""
    changes: list[Change] = []
    for attr, breaking in (
        ("topic", True),
        ("key_field", True),
        ("mesh", True),  # another mesh is another topic name and wire format
        ("source", False),
        ("compatibility", False),
        ("publishers", False),
        ("subscribers", False),
        ("retention_ms", False),
        ("service", False),
        ("owner", False),
        ("description", False),
        ("version", False),
    ):
        a, b = getattr(old, attr), getattr(new, attr)
        if a != b:
            kind = f"{attr.replace('_', '-')}-changed"
            why = " (consumers depend on it)" if breaking else ""
            changes.append(
                Change(
                    new.event_type,
                    kind,
                    f"{attr} changed from {_show(a)} to {_show(b)}{why}",
                    rule=kind,
                    breaking=dict(_ALWAYS if breaking else _NEVER),
                    old=_plain(a),
                    new=_plain(b),
                )
            )
    if "mendix" in (old.mesh, new.mesh) and old.message != new.message:
        # In the Mendix mesh the message name travels as ce_type: consumers match on it.
        changes.append(
            Change(
                new.event_type,
                "wire-name-changed",
                f"Mendix event name (ce_type) changed from {old.message!r} to {new.message!r} "
                "(consumers depend on it)",
                rule="wire-name-changed",
                breaking=dict(_ALWAYS),
                old=old.message,
                new=new.message,
            )
        )
    changes.extend(diff_schema(new.event_type, old.schema, new.schema))
    return changes


def diff_schema(event_type: str, old: Any, new: Any) -> list[Change]:
    """Structural changes between two payload schemas, classified with the checker's findings."""
    backward = check_compatibility(old, new, Compatibility.BACKWARD)
    forward = check_compatibility(old, new, Compatibility.FORWARD)
    structural = list(_walk(old, new, ""))
    changes: list[Change] = []
    used: set[int] = set()
    for pointer, before, after in structural:
        b = [v for v in backward if _related(v.pointer, pointer)]
        f = [v for v in forward if _related(v.pointer, pointer)]
        used.update(id(v) for v in (*b, *f))
        rules = sorted({v.rule for v in (*b, *f)})
        action = "added" if before is _MISSING else "removed" if after is _MISSING else "changed"
        reasons = "; ".join(dict.fromkeys(v.message for v in (*b, *f)))
        message = f"{pointer or '/'} {action}" + (f": {reasons}" if reasons else "")
        changes.append(
            Change(
                event_type,
                "schema",
                message,
                pointer or "/",
                ",".join(rules) or f"schema-{action}",
                _modes(bool(b), bool(f)),
                None if before is _MISSING else before,
                None if after is _MISSING else after,
            )
        )
    # Findings not tied to a visible edit (e.g. a default that now matters) still count.
    for v in (*backward, *forward):
        if id(v) not in used:
            changes.append(
                Change(
                    event_type,
                    "schema",
                    v.message,
                    v.pointer or "/",
                    v.rule,
                    _modes(v.direction == "backward", v.direction == "forward"),
                )
            )
    return changes


def _modes(backward: bool, forward: bool) -> dict[str, bool]:
    return {
        Compatibility.BACKWARD.value: backward,
        Compatibility.FORWARD.value: forward,
        Compatibility.FULL.value: backward or forward,
        Compatibility.NONE.value: False,
    }


def _related(violation: str, change: str) -> bool:
    v, c = violation or "", change or ""
    return v == c or v.startswith(c + "/") or c.startswith(v + "/")


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


def _walk(old: Any, new: Any, pointer: str) -> Iterable[tuple[str, Any, Any]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            yield from _walk(old.get(key, _MISSING), new.get(key, _MISSING), join(pointer, key))
        return
    if (
        isinstance(old, list)
        and isinstance(new, list)
        and len(old) == len(new)
        and all(isinstance(x, Mapping) for x in (*old, *new))
    ):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _walk(a, b, join(pointer, i))
        return
    if (
        old is _MISSING
        or new is _MISSING
        or json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True)
    ):
        yield pointer, old, new


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Compatibility):
        return value.value
    return value


def _show(value: Any) -> str:
    value = _plain(value)
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


__all__ = ["Change", "ContractDiff", "Violation", "diff_contracts", "diff_event", "diff_schema"]
