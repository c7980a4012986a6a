"""Schema compatibility by valid instances (pure logic).

BACKWARD holds when every payload valid under the old schema is valid under the new one, i.e.
L(old) ⊆ L(new); FORWARD when L(new) ⊆ L(old); FULL both. Both directions run one checker,
`Subset(sub, sup)` (subset.py), which looks for ways an instance of `sub` could fail `sup`.
Schemas are normalised first (normalize.py) and patterns compared on automata (regex.py).
Where inclusion cannot be proven it reports a violation that says so: unproven means breaking.
Rule names describe the change from old to new (`required-added`). contracts/README.md lists
what is decided exactly and what still counts as unproven.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .model import Compatibility
from .subset import CANNOT_PROVE, Subset
from .violation import Violation


def check_compatibility(
    old: Mapping[str, Any] | bool, new: Mapping[str, Any] | bool, mode: Compatibility | str
) -> list[Violation]:
    """Every violation of `mode` (its base direction) when `old` evolves into `new`."""
    mode = Compatibility(mode)
    found: list[Violation] = []
    if mode.backward:
        found += _run(old, new, sup_is_new=True)
    if mode.forward:
        found += _run(new, old, sup_is_new=False)
    return found


def _run(sub: Any, sup: Any, *, sup_is_new: bool) -> list[Violation]:
    try:
        return Subset(sub, sup, sup_is_new=sup_is_new).run()
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        # Schemas that skipped meta-schema validation (e.g. hand-made in a registry call) may
        # hold values of the wrong type; that is a breaking "cannot compare", not a crash.
        direction = "backward" if sup_is_new else "forward"
        message = f"schemas cannot be compared ({type(exc).__name__}: {exc}): {CANNOT_PROVE}"
        return [Violation("", "schema-invalid", message, direction)]


def check_history(
    history: Sequence[Mapping[str, Any] | bool],
    new: Mapping[str, Any] | bool,
    mode: Compatibility | str,
) -> list[Violation]:
    """`new` against `history` (oldest first): against every version when `mode` is
    transitive, else against the latest only. Violations carry the index they broke."""
    mode = Compatibility(mode)
    if not history or mode is Compatibility.NONE:
        return []
    indexes = range(len(history)) if mode.transitive else [len(history) - 1]
    found: list[Violation] = []
    for i in indexes:
        for v in check_compatibility(history[i], new, mode):
            found.append(Violation(v.pointer, v.rule, v.message, v.direction, i))
    return found


def check_compatibility_transitive(
    versions: Sequence[Mapping[str, Any] | bool], mode: Compatibility | str
) -> list[Violation]:
    """The last of `versions` (oldest first) against every earlier one, whatever `mode`'s
    TRANSITIVE flag says."""
    if len(versions) < 2:
        return []
    base = Compatibility(mode).base
    transitive = base if base is Compatibility.NONE else Compatibility(f"{base.value}_TRANSITIVE")
    return check_history(versions[:-1], versions[-1], transitive)


__all__ = ["Violation", "check_compatibility", "check_compatibility_transitive", "check_history"]
