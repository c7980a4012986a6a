"""`bizevents db roles plan|apply`: PostgreSQL roles per app, from the contracts."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pydantic
import typer

from ..contracts import load_contracts
from ..contracts.settings import ContractsSettings
from ..errors import BizEventsError
from ..logging import redact_url
from ..security.acls import derive
from ..security.pg_roles import RolesPlan, apply_roles, plan_roles
from .base import command_group

app = command_group("PostgreSQL set-up derived from the contracts.")
roles_app = command_group(
    "Per-app roles: an app inserts into its own outbox only, the relay claims and deletes, "
    "the worker owns its inbox. Run as a role that may create roles (BIZEVENTS_DATABASE_URL).",
)
app.add_typer(roles_app, name="roles")

PATH = typer.Argument(
    None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
)


@contextlib.contextmanager
def _clear_errors(url: str | None = None) -> Iterator[None]:
    try:
        yield
    except (BizEventsError, pydantic.ValidationError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = redact_url(url) if url else "the database"
        typer.secho(f"error: {where}: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def _apps(path: Path | None, settings: ContractsSettings) -> list[str]:
    return sorted(derive(load_contracts(path or settings.contracts_path)).apps)


def _show(result: RolesPlan, as_json: bool, remove: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "add": [{"what": c.what, "sql": c.sql} for c in result.additions],
                    "remove": [{"what": c.what, "sql": c.sql} for c in result.removals],
                },
                indent=2,
            )
        )
        return
    for change in result.changes:
        typer.secho(str(change), fg=typer.colors.RED if change.removal else typer.colors.GREEN)
    if not result.changes:
        typer.echo("roles and grants match the contracts")
    elif result.removals and not remove:
        typer.echo("removals are applied only with `bizevents db roles apply --remove`")


async def _run(url: str, work):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(url, timeout=15)
    try:
        return await work(conn)
    finally:
        await conn.close()


@roles_app.command("plan")
def roles_plan(
    path: Path | None = PATH,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the roles, schemas and grants missing (+) or extra (-) for the contracts' apps."""
    settings = ContractsSettings()
    with _clear_errors(settings.database_url):
        apps = _apps(path, settings)
        result = asyncio.run(_run(settings.database_url, lambda c: plan_roles(c, apps)))
    _show(result, as_json, remove=False)


@roles_app.command("apply")
def roles_apply(
    path: Path | None = PATH,
    remove: bool = typer.Option(False, "--remove", help="Also revoke grants beyond the plan."),
) -> None:
    """Create what is missing (idempotent); revoke extra grants only with --remove."""
    settings = ContractsSettings()
    with _clear_errors(settings.database_url):
        apps = _apps(path, settings)
        result = asyncio.run(
            _run(settings.database_url, lambda c: apply_roles(c, apps, remove=remove))
        )
    _show(result, as_json=False, remove=remove)
    removed = len(result.removals) if remove else 0
    typer.echo(f"applied: {len(result.additions)} added, {removed} removed")
