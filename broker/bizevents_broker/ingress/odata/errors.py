"""Core errors as OData JSON error bodies (OData 4.0 JSON format, section 21)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.responses import Response

from ...core.errors import ErrorKind, GatewayError

ODATA_HEADERS = {"OData-Version": "4.0"}
JSON_MEDIA = "application/json;odata.metadata=minimal"


def error_body(exc: GatewayError) -> dict[str, Any]:
    error: dict[str, Any] = {"code": exc.kind.value, "message": exc.detail}
    if exc.problems:
        error["details"] = [
            {"code": exc.kind.value, "message": p.message, "target": p.pointer}
            for p in exc.problems
        ]
    return {"error": error}


def odata_error(exc: GatewayError) -> Response:
    headers = dict(ODATA_HEADERS)
    if exc.kind is ErrorKind.UNAUTHENTICATED:
        # Basic first: BI tools (Excel, Power BI) offer Basic; the key is the password.
        headers["WWW-Authenticate"] = 'Basic realm="bizevents", charset="UTF-8"'
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return Response(
        json.dumps(error_body(exc)),
        exc.spec.status,
        headers=headers,
        media_type="application/json",
    )
