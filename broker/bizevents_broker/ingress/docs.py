"""/openapi.json and its browsable page /docs/api."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from .openapi import document, render_page

_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


async def openapi_page(request: Request) -> HTMLResponse:
    return HTMLResponse(render_page(document()), headers={"Content-Security-Policy": _CSP})


routes = [Route("/openapi.json", openapi_json), Route("/docs/api", openapi_page)]
