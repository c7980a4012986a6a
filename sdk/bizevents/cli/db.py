"""`bizevents db roles plan|apply`: PostgreSQL roles per app, from the contracts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pydantic
import typer

from ..contracts import load_contracts
from ..contracts.settings import ContractsSettings
from ..errors import BizEventsError
from ..logging import redact_url
from ..security.acls import derive
from ..security.pg_roles import RolesPlan, SharedSchemas, apply_roles, plan_roles
from .base import command_group

app = command_group("PostgreSQL set-up derived from the contracts.")
roles_app = command_group(
    "Per-app roles: an app inserts into its own outbox only, the relay claims and deletes, "
    "the worker owns its inbox; the broker's and the dead-letter store's roles own their "
    "schemas. Run as a role that may create roles (BIZEVENTS_DATABASE_URL).",
)
app.add_typer(roles_app, name="roles")

PATH = typer.Argument(
    None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
)
GATEWAY_SCHEMA = typer.Option(
    "bizevents_gateway",
    "--gateway-schema",
    envvar="BIZEVENTS_GATEWAY_SCHEMA",
    help="The broker's gateway schema (owned by bizevents_gateway).",
)
REGISTRY_SCHEMA = typer.Option(
    "bizevents_registry",
    "--registry-schema",
    envvar="BIZEVENTS_REGISTRY_SCHEMA",
    help="The broker's registry schema (owned by bizevents_gateway).",
)
DLQ_SCHEMA = typer.Option(
    "bizevents",
    "--dlq-schema",
    envvar="BIZEVENTS_DLQ_SCHEMA",
    help="The dead-letter store's schema (its tables owned by bizevents_dlq).",
)
DEFAULT_PASSWORDS = Path(".bizevents") / "db-passwords"


def password_file_writer(folder: Path) -> Callable[[str, str], str]:
    """Writes each generated password to `folder/<role>` (folder 700, file 600, replaced if
    there): a file, not the terminal, so it stays out of scroll-back and CI logs and can be
    handed to a secret store as it is."""

    def store(role: str, password: str) -> str:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        path = folder / role
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older file keeps its mode otherwise
            os.write(fd, password.encode() + b"\n")
        finally:
            os.close(fd)
        typer.echo(f"password of {role} written to {path} (mode 600)")
        return str(path)

    return store


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
    gateway_schema: str = GATEWAY_SCHEMA,
    registry_schema: str = REGISTRY_SCHEMA,
    dlq_schema: str = DLQ_SCHEMA,
) -> None:
    """Show the roles, passwords, schemas and grants missing (+) or extra (-) for the
    contracts' apps and the shared processes (relay, broker, dead-letter store)."""
    settings = ContractsSettings()
    with _clear_errors(settings.database_url):
        shared = SharedSchemas(gateway_schema, registry_schema, dlq_schema)
        apps = _apps(path, settings)
        result = asyncio.run(_run(settings.database_url, lambda c: plan_roles(c, apps, shared)))
    _show(result, as_json, remove=False)


@roles_app.command("apply")
def roles_apply(
    path: Path | None = PATH,
    remove: bool = typer.Option(False, "--remove", help="Also revoke grants beyond the plan."),
    passwords: Path = typer.Option(
        DEFAULT_PASSWORDS,
        "--passwords",
        help="Folder where generated login passwords are written, one file per role (mode 600).",
    ),
    rotate: list[str] = typer.Option(
        [], "--rotate", help="Give this role a new password (repeatable).", metavar="ROLE"
    ),
    gateway_schema: str = GATEWAY_SCHEMA,
    registry_schema: str = REGISTRY_SCHEMA,
    dlq_schema: str = DLQ_SCHEMA,
) -> None:
    """Create what is missing (idempotent), with a generated password for each new role (written
    to --passwords, never printed); revoke extra grants only with --remove."""
    settings = ContractsSettings()
    with _clear_errors(settings.database_url):
        shared = SharedSchemas(gateway_schema, registry_schema, dlq_schema)
        apps = _apps(path, settings)
        store = password_file_writer(passwords)
        result = asyncio.run(
            _run(
                settings.database_url,
                lambda c: apply_roles(
                    c, apps, remove=remove, shared=shared, store_password=store, rotate=rotate
                ),
            )
        )
    _show(result, as_json=False, remove=remove)
    removed = len(result.removals) if remove else 0
    typer.echo(f"applied: {len(result.additions)} added, {removed} removed")
