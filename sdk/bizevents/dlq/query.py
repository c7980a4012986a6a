"""Filters over stored dead letters, turned into SQL (pure logic: tested without a database)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ..deadletter import Status
from ..errors import DeadLetterError

DEFAULT_PAGE = 50
MAX_PAGE = 10_000  # rows per `list` page; replays and purges page internally


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Every field narrows the selection; an empty filter matches every letter.

    `before_id` / `after_id` are keyset cursors: lists run newest first (the next page starts
    below the last id seen), replays oldest first (above it), so paging stays correct while new
    letters arrive.
    """

    types: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    error: str | None = None
    statuses: tuple[Status, ...] = ()
    ids: tuple[int, ...] = ()
    before_id: int | None = None
    after_id: int | None = None
    limit: int | None = None  # at most this many (a page of `list`: 50 when None)

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise DeadLetterError(f"limit must be at least 1, got {self.limit}")
        if self.since and self.until and self.since > self.until:
            raise DeadLetterError("--since is after --until: the range is empty")
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise DeadLetterError("time bounds must carry a time zone")

    def next_page(self, last_id: int, ascending: bool = False) -> DeadLetterFilter:
        return replace(self, after_id=last_id) if ascending else replace(self, before_id=last_id)

    @property
    def is_empty(self) -> bool:
        return not (self.types or self.groups or self.since or self.until or self.error) and not (
            self.statuses or self.ids
        )


def escape_like(text: str) -> str:
    """The user's error text is matched literally, not as a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def where(f: DeadLetterFilter) -> tuple[str, list[Any]]:
    """A WHERE clause (without the keyword; 'TRUE' when empty) and its positional parameters."""
    parts: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if f.types:
        parts.append(f"event_type = ANY({param(list(f.types))}::text[])")
    if f.groups:
        parts.append(f"group_name = ANY({param(list(f.groups))}::text[])")
    if f.since is not None:
        parts.append(f"last_failure >= {param(f.since)}")
    if f.until is not None:
        parts.append(f"last_failure < {param(f.until)}")
    if f.error:
        like = param(f"%{escape_like(f.error)}%")
        parts.append(f"(error ILIKE {like} OR error_type ILIKE {like})")
    if f.statuses:
        parts.append(f"status = ANY({param([s.value for s in f.statuses])}::text[])")
    if f.ids:
        parts.append(f"id = ANY({param(list(f.ids))}::bigint[])")
    if f.before_id is not None:
        parts.append(f"id < {param(f.before_id)}")
    if f.after_id is not None:
        parts.append(f"id > {param(f.after_id)}")
    return (" AND ".join(parts) or "TRUE"), params
