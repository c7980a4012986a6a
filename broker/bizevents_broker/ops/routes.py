"""`/ops`: the operations page, its JSON, and dead letters (inspect; replay and purge need the
broker's admin token, given as `Authorization: Bearer ...` or the form's `token` field)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bizevents.dlq import (
    DeadLetterFilter,
    DeadLetterSettings,
    DeadLetterStore,
    Status,
    StoredDeadLetter,
    replay_dead_letters,
)
from bizevents.errors import DeadLetterError
from bizevents.logging import get_logger
from bizevents.ops.collect import collect
from bizevents.ops.overview import OpsSettings

from ..settings import BrokerSettings
from .page import render_letter, render_message, render_overview

log = get_logger("bizevents.broker.ops")

# No script on these pages at all; forms post only back to the broker.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
MAX_FORM_BYTES = 4096
LETTERS_SHOWN = 50


def ops_settings(request: Request) -> OpsSettings:
    cached: OpsSettings | None = getattr(request.app.state, "ops_settings", None)
    if cached is None:
        broker: BrokerSettings = request.app.state.settings
        cached = OpsSettings(**broker.connection_values(), dlq_schema=broker.dlq_schema)
        request.app.state.ops_settings = cached
    return cached


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status, headers={"Content-Security-Policy": CSP})


@asynccontextmanager
async def _store(settings: OpsSettings) -> AsyncIterator[DeadLetterStore]:
    # A pool per request: the page is for people, a few requests a minute.
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        yield DeadLetterStore(pool, settings.dlq_schema)
    finally:
        await pool.close()


async def _waiting(settings: OpsSettings, group: str | None) -> list[StoredDeadLetter]:
    f = DeadLetterFilter(
        groups=(group,) if group else (), statuses=(Status.DEAD,), limit=LETTERS_SHOWN
    )
    try:
        async with _store(settings) as store:
            return (await store.list(f)).items
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return []  # the overview already says the database cannot be read


async def overview_page(request: Request) -> Response:
    settings = ops_settings(request)
    group = request.query_params.get("group") or None
    overview = await collect(settings)
    letters = await _waiting(settings, group)
    return _html(render_overview(overview, letters, group=group, now=datetime.now(UTC)))


async def overview_json(request: Request) -> Response:
    return JSONResponse((await collect(ops_settings(request))).to_dict())


def _letter_id(request: Request) -> int | None:
    raw = request.path_params["letter_id"]
    return int(raw) if raw.isdigit() and int(raw) < 2**63 else None


async def letter_page(request: Request) -> Response:
    letter_id = _letter_id(request)
    if letter_id is None:
        return _html(render_message("Not found", "a dead letter id is a number"), 404)
    try:
        async with _store(ops_settings(request)) as store:
            letter = await store.get(letter_id)
    except DeadLetterError as exc:
        return _html(render_message("Not found", str(exc)), 404)
    notice = {
        "replayed": "Replayed: the group's worker handles it again.",
        "purged": "Purged.",
    }.get(request.query_params.get("done", ""))
    return _html(render_letter(letter, notice=notice))


async def _authorized(request: Request) -> Response | None:
    """None when the caller holds the admin token; else the refusal to send."""
    broker: BrokerSettings = request.app.state.settings
    if broker.admin_token is None:
        return _html(
            render_message(
                "Not allowed",
                "replay and purge from /ops need BIZEVENTS_ADMIN_TOKEN set on the broker",
            ),
            403,
        )
    expected = broker.admin_token.get_secret_value().encode()
    given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
    if not given:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return _html(render_message("Refused", "form too large"), 413)
        form = parse_qs(body.decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].encode()
    if not hmac.compare_digest(given, expected):
        return _html(render_message("Not allowed", "the admin token is missing or wrong"), 401)
    return None


async def _act(request: Request, action: str) -> Response:
    letter_id = _letter_id(request)
    if letter_id is None:
        return _html(render_message("Not found", "a dead letter id is a number"), 404)
    refused = await _authorized(request)
    if refused is not None:
        return refused
    settings = ops_settings(request)
    async with _store(settings) as store:
        try:
            letter = await store.get(letter_id)
        except DeadLetterError as exc:
            return _html(render_message("Not found", str(exc)), 404)
        if letter.status is Status.PURGED:
            return _html(render_message("Refused", f"dead letter #{letter_id} is purged"), 409)
        f = DeadLetterFilter(ids=(letter_id,))
        if action == "replay":
            dlq = DeadLetterSettings(**settings.connection_values(), dlq_schema=settings.dlq_schema)
            f = DeadLetterFilter(ids=(letter_id,), statuses=(letter.status,))
            await replay_dead_letters(store, f, dlq)
            done = "replayed"
        else:
            await store.purge(f)
            done = "purged"
    log.info("ops.dead_letter", action=done, id=letter_id, group=letter.group)
    return RedirectResponse(f"/ops/dead-letters/{letter_id}?done={quote(done)}", 303)


async def replay(request: Request) -> Response:
    return await _act(request, "replay")


async def purge(request: Request) -> Response:
    return await _act(request, "purge")


routes = [
    Route("/ops", overview_page),
    Route("/ops/overview.json", overview_json),
    Route("/ops/dead-letters/{letter_id}", letter_page),
    Route("/ops/dead-letters/{letter_id}/replay", replay, methods=["POST"]),
    Route("/ops/dead-letters/{letter_id}/purge", purge, methods=["POST"]),
]
