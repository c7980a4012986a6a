"""Where events travel and how they look on the wire: spaces and meshes (pure logic).

A *space* (dev, test, prod, a team sandbox; `BIZEVENTS_SPACE`) isolates traffic on one Kafka
cluster. In the bizevents mesh it prefixes topic names and consumer groups (`<space>.<name>`):
a worker in space `blue` reads `blue.<topic>` with group `blue.<group>`, so its retry,
dead-letter and replay topics are `bizevents.retry.blue.<group>.<delay>` and so on, and nothing
published in `green` ever reaches it. Kafka's prefixed ACLs can fence a space off.

The *Mendix* mesh speaks Mendix Business Events' conventions, for contracts (or whole services)
marked `x-bizevents-mesh: mendix`, whose channel address is the Mendix channel id:
- topic `[<prefix>.]businessevents.<channel id>.<space>` (Mendix's own space suffix is ours);
- CloudEvents binary mode with `ce_type` the event's name (the contract's message name) and
  the Mendix extension `ce_sourcename` (the publishing service: the app's name when we
  publish). Inside bizevents the event keeps its contract type: the wire name is swapped on
  the way out and back on the way in.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .envelope import Envelope
from .errors import ConfigurationError, EnvelopeError

SPACE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
BIZEVENTS = "bizevents"
MENDIX = "mendix"
SOURCENAME = "sourcename"  # Mendix's CloudEvents extension: the publishing service


def check_space(space: str | None) -> str | None:
    """The space, validated (lower-case letters, digits, '-'; no dots); None or "" for none."""
    if not space:
        return None
    if not SPACE.match(space):
        raise ConfigurationError(
            f"space {space!r} must match {SPACE.pattern} (lower-case letters, digits and '-')"
        )
    return space


class _Contract(Protocol):
    """The few EventContract fields used here."""

    @property
    def event_type(self) -> str: ...
    @property
    def topic(self) -> str: ...
    @property
    def mesh(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def service(self) -> str: ...


@dataclass(frozen=True)
class Naming:
    """Topic and consumer-group names in one space."""

    space: str | None = None
    mendix_prefix: str | None = None

    def __post_init__(self) -> None:
        check_space(self.space)
        if self.mendix_prefix and not PREFIX.match(self.mendix_prefix):
            raise ConfigurationError(
                f"Mendix topic prefix {self.mendix_prefix!r} must be dot-separated parts of "
                "letters, digits, '-' and '_'"
            )

    def topic_of(self, contract: _Contract) -> str:
        if contract.mesh == MENDIX:
            if not self.space:
                raise ConfigurationError(
                    f"{contract.event_type} travels on a Mendix topic, which names a space: "
                    "set BIZEVENTS_SPACE (Mendix's space, e.g. production)"
                )
            parts = [self.mendix_prefix] if self.mendix_prefix else []
            return ".".join([*parts, "businessevents", contract.topic, self.space])
        return self.scoped(contract.topic)

    def scoped(self, name: str) -> str:
        """A topic or consumer-group name in this space."""
        return f"{self.space}.{name}" if self.space else name


def to_wire(envelope: Envelope, contract: _Contract, app: str) -> Envelope:
    """The envelope as the contract's mesh sends it (`app`: the publishing app)."""
    if contract.mesh != MENDIX:
        return envelope
    extensions = {**envelope.extensions, SOURCENAME: app}
    # Mendix names the event in ce_type; our dataschema URN would mean nothing to a Mendix app.
    return dataclasses.replace(
        envelope, type=contract.message, dataschema=None, extensions=extensions
    )


@dataclass
class Inbound:
    """Turns records of Mendix topics back into the contracts' event types; pure.

    `by_topic`: Mendix topic -> {wire name: contract}. Records read from retry or replay topics
    are matched by the topic they came from when known, else by their wire name alone.
    """

    by_topic: dict[str, dict[str, _Contract]] = field(default_factory=dict)

    @classmethod
    def of(cls, naming: Naming, contracts: Iterable[_Contract]) -> Inbound:
        inbound = cls()
        for contract in contracts:
            if contract.mesh == MENDIX:
                topic = naming.topic_of(contract)
                inbound.by_topic.setdefault(topic, {})[contract.message] = contract
        return inbound

    def __bool__(self) -> bool:
        return bool(self.by_topic)

    def __call__(self, topic: str | None, envelope: Envelope) -> Envelope:
        events = self.by_topic.get(topic) if topic is not None else None
        if events is None:
            matches = [e[envelope.type] for e in self.by_topic.values() if envelope.type in e]
            if len(matches) != 1:
                return envelope  # not a Mendix event (or ambiguous: then it stays unknown)
            return _from_mendix(envelope, matches[0], {envelope.type: matches[0]})
        contract = events.get(envelope.type)
        if contract is None:
            return _from_mendix(envelope, None, events)
        return _from_mendix(envelope, contract, events)


def _from_mendix(
    envelope: Envelope, contract: _Contract | None, events: Mapping[str, _Contract]
) -> Envelope:
    if contract is None:
        known = next(iter(events.values()))
        raise EnvelopeError(
            f"ce_type {envelope.type!r} is not an event of Mendix channel {known.topic!r} "
            f"(expected {', '.join(sorted(events))!r})"
        )
    sourcename = envelope.extensions.get(SOURCENAME)
    if not sourcename:
        raise EnvelopeError(
            f"Mendix event {envelope.type!r} without the ce_sourcename header (the publishing "
            "service, required by Mendix Business Events)"
        )
    return dataclasses.replace(envelope, type=contract.event_type)
