"""The bizevents error hierarchy: catch `BizEventsError` for anything raised by us."""

from __future__ import annotations

from dataclasses import dataclass


class BizEventsError(Exception):
    """Base class of every error bizevents raises on purpose."""


class ConfigurationError(BizEventsError):
    """Settings or the environment are not usable (missing binary, bad URL...)."""


class ServiceError(BizEventsError):
    """A local development service (Kafka, PostgreSQL) failed to start, stop or answer."""


class ServiceUnavailableError(BizEventsError):
    """Kafka or the database did not answer within the time a process waits for them."""


@dataclass(frozen=True)
class Problem:
    """One finding: where (file and JSON pointer) and what."""

    message: str
    pointer: str = ""
    file: str = ""
    rule: str = ""
    # 1-based position in the file, when the pointer could be found in its text.
    line: int | None = None
    column: int | None = None

    @property
    def position(self) -> str:
        """file:line:column where known (what editors and CI annotations understand)."""
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def __str__(self) -> str:
        where = ":".join(p for p in (self.position, self.pointer or "") if p)
        rule = f"[{self.rule}] " if self.rule else ""
        return f"{where}: {rule}{self.message}" if where else f"{rule}{self.message}"


class ProblemsError(BizEventsError):
    """An error carrying every problem found, not just the first."""

    def __init__(self, summary: str, problems: list[Problem]) -> None:
        self.summary = summary
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{summary}\n{lines}" if lines else summary)


class ContractError(ProblemsError):
    """A contract file is invalid (syntax, AsyncAPI structure, schema, extensions)."""


class IncompatibleChangeError(ProblemsError):
    """A new contract version breaks the event type's compatibility mode."""


class UnknownEventTypeError(BizEventsError):
    """No contract declares this event type."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type
        super().__init__(f"unknown event type {event_type!r}: no contract declares it")


class PayloadValidationError(ProblemsError):
    """A payload does not match its event type's schema."""


class PermissionDeniedError(BizEventsError):
    """The app may not publish or subscribe to this event type."""


class PublishError(BizEventsError):
    """An event could not be published (nothing was written)."""


class EnvelopeError(BizEventsError):
    """Bytes or headers that are not a valid CloudEvent."""


class DeadLetterError(BizEventsError):
    """A dead letter could not be stored, found, replayed or purged."""


class VersionNotFoundError(BizEventsError):
    """The event type exists in the registry but not at this version."""

    def __init__(self, event_type: str, version: int) -> None:
        self.event_type = event_type
        self.version = version
        super().__init__(f"event type {event_type!r} has no registered version {version}")
