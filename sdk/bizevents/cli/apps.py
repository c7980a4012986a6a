"""`bizevents apps create|list|show|rotate|revoke|grant|ungrant`: the gateway's apps and API keys,
straight in the gateway's tables (BIZEVENTS_DATABASE_URL, BIZEVENTS_GATEWAY_SCHEMA). The same
operations are on the broker's admin API (/api/apps)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
import typer

from ..errors import BizEventsError
from ..logging import redact_url
from .base import command_group

if TYPE_CHECKING:
    from bizevents_broker.core import AppInfo, AppStore

app = command_group("Apps and API keys of the HTTP gateway.")

T = TypeVar("T")


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def _run(action: Callable[[AppStore, asyncpg.Connection], Awaitable[T]]) -> T:
    """Open the gateway's tables, run `action`, and turn what a user can fix into one line."""
    try:
        from bizevents_broker.core import AppStore, GatewayError
        from bizevents_broker.core.store import migrate_gateway
        from bizevents_broker.settings import BrokerSettings
    except ImportError as exc:
        raise _fail(f"apps need the [broker] extra ({exc.name} is missing)") from exc
    try:
        settings = BrokerSettings()
    except BizEventsError as exc:  # a bad setting: one line naming the variable
        raise _fail(str(exc)) from exc

    async def go() -> T:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await migrate_gateway(conn, settings.gateway_schema)
            return await action(AppStore(settings.gateway_schema), conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(go())
    except GatewayError as exc:
        raise _fail(exc.detail) from exc
    except BizEventsError as exc:
        raise _fail(str(exc)) from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise _fail(f"cannot use {redact_url(settings.database_url)}: {exc}") from exc


def _print(info: AppInfo, as_json: bool, key: str | None = None) -> None:
    if as_json:
        doc: dict[str, Any] = {"app": info.to_json()}
        if key:
            doc["key"] = key
        typer.echo(json.dumps(doc, indent=2))
        return
    state = "revoked" if info.revoked_at else "active"
    typer.echo(f"{info.name}  {state}{'  admin' if info.admin else ''}")
    if info.description:
        typer.echo(f"  {info.description}")
    for g in info.grants:
        typer.echo(f"  grant {g.action.value}:{g.event_type}")
    for k in info.keys:
        status = "revoked" if k.revoked_at else f"expires {k.expires_at}" if k.expires_at else ""
        typer.echo(f"  key {k.key_id}  created {k.created_at:%Y-%m-%d %H:%M}  {status}".rstrip())
    if key:
        typer.echo(f"\nAPI key (shown only now, store it safely):\n{key}")


def _grants(values: list[str]) -> tuple[Any, ...]:
    from bizevents_broker.core import GatewayError
    from bizevents_broker.core.store import parse_grant

    try:
        return tuple(parse_grant(v) for v in values)
    except GatewayError as exc:
        raise _fail(exc.detail) from exc


@app.command()
def create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="May manage apps and the registry."),
    grant: list[str] = typer.Option([], help="Extra permission: publish:TYPE or subscribe:TYPE."),
    description: str = typer.Option("", help="What the app is."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an app and print its first API key (once)."""
    grants = _grants(grant)
    info, key = _run(
        lambda store, conn: store.create(
            conn, name, admin=admin, description=description, grants=grants
        )
    )
    _print(info, as_json, key)


@app.command("list")
def list_apps(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every app with its keys (ids only) and grants."""
    infos = _run(lambda store, conn: store.list(conn))
    if as_json:
        typer.echo(json.dumps({"apps": [i.to_json() for i in infos]}, indent=2))
        return
    for info in infos:
        _print(info, False)


@app.command()
def show(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One app."""
    _print(_run(lambda store, conn: store.show(conn, name)), as_json)


@app.command()
def rotate(
    name: str,
    grace: float = typer.Option(86400, help="Seconds the current keys stay valid."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """A new API key (printed once); the current ones expire after the grace period."""
    if not 0 <= grace <= 365 * 86400:
        raise _fail("--grace must be 0 to 31536000 seconds")
    info, key = _run(lambda store, conn: store.rotate(conn, name, grace))
    _print(info, as_json, key)


@app.command()
def revoke(
    name: str,
    key: str | None = typer.Option(None, "--key", help="Revoke only this key id (bze_...)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Revoke the app and all its keys (or one key), effective at once."""
    _print(_run(lambda store, conn: store.revoke(conn, name, key)), as_json)


@app.command("grant")
def add_grant(name: str, grant: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Add a permission: publish:TYPE or subscribe:TYPE (TYPE may be '*')."""
    (parsed,) = _grants([grant])
    _print(_run(lambda store, conn: store.grant(conn, name, parsed)), as_json)


@app.command("ungrant")
def remove_grant(name: str, grant: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Remove a permission."""
    (parsed,) = _grants([grant])
    _print(_run(lambda store, conn: store.ungrant(conn, name, parsed)), as_json)
