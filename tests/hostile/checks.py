"""Sending one generated request to the real broker and judging the answer: never a 5xx (SOAP
faults aside, which must be Client faults), a clear error body, no secret, a living process,
and no table changed unless the request was accepted."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
from hypothesis import note

from . import tally
from .conftest import Broker, secret_free
from .strategies.publish import HttpRequest

Snapshot = dict[str, tuple[int, str]]
# BIZEVENTS_HOSTILE_DETAIL=1: the summary names each refusal's detail, not only its kind.
DETAIL = os.environ.get("BIZEVENTS_HOSTILE_DETAIL") == "1"


def send(client: httpx.Client, request: HttpRequest) -> httpx.Response:
    # HTTP itself cannot carry leading or trailing blanks in a header value (the client refuses).
    # Nor control characters: those are dropped.
    headers = [
        (name, bytes(c for c in value if c == 9 or 32 <= c != 127).strip(b" \t"))
        for name, value in request.headers
    ]
    return client.request(request.method, request.path, headers=headers, content=request.body)


def problem_outcome(response: httpx.Response) -> str:
    """A refusal in problem+json (RFC 9457): its status and kind, checked for a clear reason."""
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        response.status_code, response.headers, response.text[:500])  # fmt: skip
    body = response.json()
    assert body["status"] == response.status_code, body
    assert isinstance(body.get("detail"), str) and body["detail"].strip(), body
    if DETAIL:
        return f"{response.status_code} {body['detail'][:60]}"
    return f"{response.status_code} {body['type'].rsplit(':', 1)[-1]}"


def odata_outcome(response: httpx.Response) -> str:
    """An OData error body: {"error": {"code", "message"}}."""
    body = response.json()
    error = body["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    if DETAIL:
        return f"{response.status_code} {error['message'][:60]}"
    return f"{response.status_code} {error['code']}"


def changed(before: Snapshot, after: Snapshot) -> dict[str, tuple[Any, Any]]:
    return {t: (before.get(t), after.get(t)) for t in set(before) | set(after)
            if before.get(t) != after.get(t)}  # fmt: skip


class Judge:
    """Runs one request of an entry point and checks the invariants every answer must keep."""

    def __init__(self, broker: Broker, db: psycopg.Connection[Any], client: httpx.Client) -> None:
        self.broker, self.db, self.client = broker, db, client
        self.state = broker.snapshot(db)

    def run(
        self,
        entry: str,
        request: HttpRequest,
        outcome: Callable[[httpx.Response], str],
        may_change: Callable[[httpx.Response, dict[str, tuple[Any, Any]]], None] | None = None,
    ) -> httpx.Response:
        note(repr(request))
        with tally.timed(entry):
            response = send(self.client, request)
            self.broker.assert_alive()
            label = outcome(response)
            secret_free(self.broker, response)
            after = self.broker.snapshot(self.db)
            diff = changed(self.state, after)
            # The next example compares with this state even if this one fails: hypothesis
            # goes on (shrinking), and a stale state would report this change again, elsewhere.
            self.state = after
            if diff:
                what = f"{response.status_code} {response.text[:300]}"
                assert may_change is not None and response.is_success, f"{what}: {sorted(diff)}"
                may_change(response, diff)
        tally.record(entry, f"{request.operation} {label}".strip())
        return response


def rest_outcome(response: httpx.Response) -> str:
    assert response.status_code < 500, (response.status_code, response.text[:1000])
    if response.is_success:
        return str(response.status_code)
    if response.status_code == 307:  # a trailing slash: the same path without it, same origin
        origin = f"{response.request.url.scheme}://{response.request.url.netloc.decode()}/"
        assert response.headers["location"].startswith(origin), response.headers
        return "307 redirect"
    return problem_outcome(response)


def published(outbox: str) -> Callable[[httpx.Response, dict[str, tuple[Any, Any]]], None]:
    """An accepted publish adds exactly its events to the outbox (and may remember its
    Idempotency-Key); nothing else changes."""

    def check(response: httpx.Response, diff: dict[str, tuple[Any, Any]]) -> None:
        assert response.status_code == 202, response.text
        ids = response.json()["ids"]
        assert set(diff) <= {outbox, outbox.rsplit(".", 1)[0] + ".idempotency"}, diff
        if outbox in diff:
            (before, _), (after, _) = diff[outbox]
            assert after - before == len(ids), (diff, ids)
        else:
            assert response.headers.get("idempotent-replayed") == "true", diff

    return check


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
