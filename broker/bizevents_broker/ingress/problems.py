"""The core's errors as RFC 9457 problem+json responses (the REST ingress's half of the table)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ..core.errors import ERROR_TABLE, ErrorKind, GatewayError
from ..core.ratelimit import retry_after_header

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:bizevents:problem:"


def problem_body(kind: ErrorKind, detail: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    spec = ERROR_TABLE[kind]
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{kind.value}",
        "title": spec.title,
        "status": spec.status,
        "detail": detail,
    }
    if problems:
        body["problems"] = problems
    return body


def problem_response(error: GatewayError) -> Response:
    body = problem_body(
        error.kind,
        error.detail,
        [{"pointer": p.pointer, "message": p.message} for p in error.problems],
    )
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = retry_after_header(error.retry_after)
    if error.kind is ErrorKind.UNAUTHENTICATED:
        headers["WWW-Authenticate"] = 'Bearer realm="bizevents"'
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=error.spec.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )
