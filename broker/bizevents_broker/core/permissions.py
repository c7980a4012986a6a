"""Who may do what (pure): contracts' publishers/subscribers, explicit grants, the admin role."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bizevents.contracts import EventContract


class Action(StrEnum):
    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"


@dataclass(frozen=True)
class Grant:
    action: Action
    event_type: str  # an exact type, or "*" for every type

    def covers(self, action: Action, event_type: str) -> bool:
        return self.action is action and self.event_type in ("*", event_type)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: an app (by its API key) or the operator's admin token."""

    app: str
    admin: bool = False
    grants: tuple[Grant, ...] = field(default_factory=tuple)
    key_id: str | None = None


def allowed(principal: Principal, action: Action, contract: EventContract) -> bool:
    """Whether `principal` may publish or subscribe to the contract's event type.

    A contract that lists apps names exactly who may; an empty list means "any app". A grant adds
    to that; admins may do anything (they manage the gateway, and test it).
    """
    if principal.admin:
        return True
    if any(g.covers(action, contract.event_type) for g in principal.grants):
        return True
    listed = contract.publishers if action is Action.PUBLISH else contract.subscribers
    return not listed or principal.app in listed
