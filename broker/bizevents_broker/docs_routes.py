"""Served contract docs: each service's AsyncAPI document (YAML, JSON) and the HTML page."""

from __future__ import annotations

from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bizevents.contracts.registry import Registry

from .asyncapi_doc import served_document
from .docs_page import build_views, render_page

# The page needs no script at all: forbid it, so a contract text that slipped escaping is inert.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def _document(request: Request) -> dict[str, Any] | None:
    """The service's latest document, its payloads set to the registered schemas."""
    name = request.path_params["service"]
    registry = _registry(request)
    found = next((d for d in await registry.service_documents() if d.service == name), None)
    if found is None:
        return None
    schemas = {v.event_type: v.schema for v in await registry.event_types()}
    return served_document(found.document, schemas)


def _not_found(request: Request) -> JSONResponse:
    name = request.path_params["service"]
    return JSONResponse({"error": f"no AsyncAPI document registered for service {name!r}"}, 404)


async def asyncapi_json(request: Request) -> Response:
    doc = await _document(request)
    return JSONResponse(doc) if doc else _not_found(request)


async def asyncapi_yaml(request: Request) -> Response:
    doc = await _document(request)
    if doc is None:
        return _not_found(request)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return Response(text, media_type="application/yaml")


async def asyncapi_index(request: Request) -> JSONResponse:
    docs = await _registry(request).service_documents()
    return JSONResponse(
        {
            "services": [
                {
                    "service": d.service,
                    "version": d.version,
                    "yaml": f"/asyncapi/{d.service}.yaml",
                    "json": f"/asyncapi/{d.service}.json",
                }
                for d in docs
            ]
        }
    )


async def docs_page(request: Request) -> HTMLResponse:
    registry = _registry(request)
    query = request.query_params.get("q", "")[:200]
    latest = await registry.event_types()
    # Version history only where there is one: a query per event type with several versions.
    histories = {
        v.event_type: await registry.versions(v.event_type) for v in latest if v.version > 1
    }
    views = build_views(latest, await registry.service_documents(), histories, query)
    return HTMLResponse(render_page(views, query=query), headers={"Content-Security-Policy": _CSP})


async def root(request: Request) -> RedirectResponse:
    return RedirectResponse("/docs/contracts")


routes = [
    Route("/", root),
    Route("/docs/contracts", docs_page),
    Route("/asyncapi", asyncapi_index),
    Route("/asyncapi/{service}.json", asyncapi_json),
    Route("/asyncapi/{service}.yaml", asyncapi_yaml),
]
