"""A compatibility violation: where, which rule, why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Problem


@dataclass(frozen=True)
class Violation:
    """One way a new schema breaks a compatibility direction.

    pointer: JSON pointer into the schema where the difference is (same path in old and new).
    rule: what changed, from old to new (e.g. `required-added`, `type-narrowed`).
    direction: "backward" (old payloads rejected by the new schema) or "forward".
    against: index of the version checked against, for history checks (else None).
    """

    pointer: str
    rule: str
    message: str
    direction: str
    against: int | None = None

    def as_problem(self, file: str = "") -> Problem:
        return Problem(self.message, self.pointer or "/", file, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pointer": self.pointer or "/",
            "rule": self.rule,
            "message": self.message,
            "direction": self.direction,
            "against": self.against,
        }
