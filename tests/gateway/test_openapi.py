"""The served OpenAPI document is valid OpenAPI 3.1 and covers every gateway route; the browsable
page shows every operation."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from bizevents_broker.ingress import pull, rest, webhooks

from .conftest import Env

pytestmark = pytest.mark.services


async def test_openapi_document_is_valid_and_complete(env: Env) -> None:
    response = await env.http.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    served = {
        (route.path, method.lower())
        for route in [*rest.routes, *pull.routes, *webhooks.routes]
        if isinstance(route, Route)
        for method in (route.methods or ()) - {"HEAD"}
    }
    documented = {(path, method) for path, item in doc["paths"].items() for method in item}
    assert served == documented

    page = await env.http.get("/docs/api")
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    for path, method in documented:
        assert f"<code>{path}</code>" in page.text
        assert doc["paths"][path][method]["operationId"] in page.text
