"""Contracts from the registry over HTTP: `bizevents contracts pull` and
`Events(contracts="https://broker...")`, so teams in other repositories stop copying YAML files.

The broker serves each service's current AsyncAPI document, self-contained, under
`/asyncapi/{service}.yaml`; `/asyncapi` lists them. Plain urllib: no extra dependency.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

from ..errors import ContractError, Problem
from .loader import load_contract_texts
from .model import ContractSet

TIMEOUT = 15.0
MAX_BYTES = 5_000_000


def is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))


def _get(url: str, token: str | None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "application/json, application/yaml"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ContractError(
            f"cannot fetch contracts from {url}",
            [Problem(f"HTTP {exc.code} {exc.reason}", rule="io")],
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ContractError(
            f"cannot fetch contracts from {url}", [Problem(str(reason), rule="io")]
        ) from None
    if len(body) > MAX_BYTES:
        raise ContractError(
            f"cannot fetch contracts from {url}",
            [Problem(f"more than {MAX_BYTES} bytes", rule="io")],
        )
    return body


def fetch_documents(
    base_url: str, services: list[str] | None = None, token: str | None = None
) -> dict[str, str]:
    """{"<service>.yaml": AsyncAPI text} for every service (or the named ones)."""
    base = base_url.rstrip("/")
    try:
        index = json.loads(_get(f"{base}/asyncapi", token))["services"]
        names = [str(s["service"]) for s in index]
    except (ValueError, KeyError, TypeError) as exc:
        raise ContractError(
            f"{base}/asyncapi is not a bizevents broker's document index",
            [Problem(str(exc), rule="io")],
        ) from None
    if services:
        missing = sorted(set(services) - set(names))
        if missing:
            raise ContractError(
                f"the registry at {base} has no such service(s)",
                [
                    Problem(f"unknown service {m!r} (known: {', '.join(names)})", rule="io")
                    for m in missing
                ],
            )
        names = [n for n in names if n in services]
    return {
        f"{name}.yaml": _get(f"{base}/asyncapi/{quote(name, safe='')}.yaml", token).decode("utf-8")
        for name in names
    }


def load_from_registry(base_url: str, token: str | None = None) -> ContractSet:
    """Every service's contracts from the broker, checked like local files."""
    return load_contract_texts(fetch_documents(base_url, token=token))


def pull(
    base_url: str, out: Path, services: list[str] | None = None, token: str | None = None
) -> list[Path]:
    """Write the documents under `out` (they are checked first: nothing is written if any is
    invalid)."""
    documents = fetch_documents(base_url, services, token)
    load_contract_texts(documents)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(documents.items()):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
