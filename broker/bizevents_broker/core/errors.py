"""The gateway's one error table: every ingress maps these kinds, never its own ad-hoc errors.

A `GatewayError` carries a kind (what went wrong, stable and machine-readable), a detail line
for humans (never a secret, never a hint about event types the caller may not see), optional
problems (JSON pointer + message) and, for `RATE_LIMITED`, a retry delay. `ERROR_TABLE` says how
each kind reads in a protocol: the HTTP status (REST, OData) and whether the fault is the client's
or the server's (SOAP's `Client`/`Server` fault codes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not-found"
    BAD_REQUEST = "bad-request"
    INVALID_CLOUDEVENT = "invalid-cloudevent"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    PAYLOAD_INVALID = "payload-invalid"
    BODY_TOO_LARGE = "body-too-large"
    BATCH_TOO_LARGE = "batch-too-large"
    IDEMPOTENCY_MISMATCH = "idempotency-key-reused"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate-limited"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    title: str
    client_fault: bool


ERROR_TABLE: dict[ErrorKind, ErrorSpec] = {
    ErrorKind.UNAUTHENTICATED: ErrorSpec(401, "Missing, invalid or revoked API key", True),
    ErrorKind.FORBIDDEN: ErrorSpec(403, "Not permitted", True),
    ErrorKind.NOT_FOUND: ErrorSpec(404, "Not found", True),
    ErrorKind.BAD_REQUEST: ErrorSpec(400, "Malformed request", True),
    ErrorKind.INVALID_CLOUDEVENT: ErrorSpec(400, "Not a valid CloudEvent", True),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(415, "Unsupported content type", True),
    ErrorKind.PAYLOAD_INVALID: ErrorSpec(422, "Event data breaks its contract", True),
    ErrorKind.BODY_TOO_LARGE: ErrorSpec(413, "Request body too large", True),
    ErrorKind.BATCH_TOO_LARGE: ErrorSpec(413, "Too many events in one batch", True),
    ErrorKind.IDEMPOTENCY_MISMATCH: ErrorSpec(
        422, "Idempotency key reused with a different request", True
    ),
    ErrorKind.CONFLICT: ErrorSpec(409, "Conflict", True),
    ErrorKind.RATE_LIMITED: ErrorSpec(429, "Rate limit exceeded", True),
    ErrorKind.UNAVAILABLE: ErrorSpec(503, "Service unavailable, try again", False),
}


@dataclass(frozen=True)
class ProblemDetail:
    """One specific problem: where (JSON pointer into the request) and what."""

    message: str
    pointer: str = ""


class GatewayError(Exception):
    def __init__(
        self,
        kind: ErrorKind,
        detail: str,
        *,
        problems: Sequence[ProblemDetail] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.problems = tuple(problems)
        self.retry_after = retry_after

    @property
    def spec(self) -> ErrorSpec:
        return ERROR_TABLE[self.kind]
