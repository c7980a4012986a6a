"""`bizevents kafka acl plan|apply` and `bizevents kafka user set|list|delete`.

They run as the principal of BIZEVENTS_KAFKA_SASL_USERNAME / _PASSWORD, which must be a super
user (the admin of `bizevents dev up --secure`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import typer
from aiokafka.errors import KafkaConnectionError, KafkaError

from ..contracts import load_contracts
from ..contracts.settings import ContractsSettings
from ..errors import BizEventsError
from ..kafka import login_refused
from ..security.acls import Acl, AclPlan, Derived, derive, plan
from ..security.kafka_admin import KafkaAdmin
from .base import command_group

app = command_group("Kafka permissions derived from the contracts.")
acl_app = command_group("ACLs: one principal per app (User:<app>).")
user_app = command_group("SCRAM users (one per app).")
app.add_typer(acl_app, name="acl")
app.add_typer(user_app, name="user")

PATH = typer.Argument(
    None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
)
PRINCIPALS = typer.Option(
    [],
    "--principal",
    help="Also compare this principal's ACLs (e.g. User:oldapp, an app no contract names now).",
)
GATEWAY = typer.Option(
    None,
    "--gateway",
    help="Also the ACLs of the broker's HTTP gateway, logged in as User:NAME: read and write "
    "the contracts' topics, its own consumer groups and webhook topics, replay dead letters.",
    metavar="NAME",
)
DLQ = typer.Option(
    None,
    "--dlq",
    help="Also the ACLs of `bizevents dlq ingest` and `dlq replay`, logged in as User:NAME: "
    "read the dead-letter topics, write replay topics.",
    metavar="NAME",
)
T = TypeVar("T")


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """One line on stderr and exit 1 for settings, contract and Kafka errors."""
    try:
        yield
    except (BizEventsError, pydantic.ValidationError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    except (KafkaError, OSError) as exc:
        refused = None
        if isinstance(exc, KafkaConnectionError):  # or a login Kafka refused: say which
            refused = asyncio.run(login_refused(ContractsSettings()))
        message = refused or f"Kafka: {type(exc).__name__}: {exc}"
        typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def _with_admin(settings: ContractsSettings, work: Callable[[KafkaAdmin], Awaitable[T]]) -> T:
    async def go() -> T:
        async with KafkaAdmin(settings) as admin:
            return await work(admin)

    return asyncio.run(go())


def _compute(
    path: Path | None, principals: list[str], gateway: str | None, dlq: str | None
) -> tuple[ContractsSettings, Derived, AclPlan]:
    settings = ContractsSettings()
    derived = derive(load_contracts(path or settings.contracts_path), gateway=gateway, dlq=dlq)
    existing = _with_admin(settings, lambda admin: admin.describe_acls())
    return settings, derived, plan(derived, existing, principals)


def _show(result: AclPlan, derived: Derived, as_json: bool, remove: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "add": [a.to_dict() for a in result.add],
                    "remove": [a.to_dict() for a in result.remove],
                    "apps": sorted(derived.apps),
                    "unpublishable": derived.unpublishable,
                },
                indent=2,
            )
        )
        return
    for event_type in derived.unpublishable:
        typer.echo(f"note: {event_type} lists no publishers: only super users may write it")
    for acl in result.add:
        typer.secho(f"+ {acl}", fg=typer.colors.GREEN)
    for acl in result.remove:
        typer.secho(f"- {acl}", fg=typer.colors.RED)
    if result.empty:
        typer.echo(f"ACLs match the contracts ({len(derived.acls)} for {len(derived.apps)} apps)")
    else:
        typer.echo(f"{len(result.add)} to add, {len(result.remove)} to remove")
        if result.remove and not remove:
            typer.echo("removals are applied only with `bizevents kafka acl apply --remove`")


@acl_app.command("plan")
def acl_plan(
    path: Path | None = PATH,
    principal: list[str] = PRINCIPALS,
    gateway: str | None = GATEWAY,
    dlq: str | None = DLQ,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show how the cluster's ACLs differ from the contracts (+ to add, - to remove)."""
    with _clear_errors():
        _, derived, result = _compute(path, principal, gateway, dlq)
    _show(result, derived, as_json, remove=False)


@acl_app.command("apply")
def acl_apply(
    path: Path | None = PATH,
    principal: list[str] = PRINCIPALS,
    gateway: str | None = GATEWAY,
    dlq: str | None = DLQ,
    remove: bool = typer.Option(
        False, "--remove", help="Also delete ACLs the contracts no longer call for."
    ),
) -> None:
    """Create the missing ACLs (idempotent); delete the extra ones only with --remove."""
    with _clear_errors():
        settings, derived, result = _compute(path, principal, gateway, dlq)
        _show(result, derived, as_json=False, remove=remove)

        async def go(admin: KafkaAdmin) -> bool:
            await admin.create_acls(result.add)
            if remove:
                await admin.delete_acls(result.remove)
            return await _shown(admin, set(result.add), set(result.remove) if remove else set())

        shown = _with_admin(settings, go)
    removed = len(result.remove) if remove else 0
    typer.echo(f"applied: {len(result.add)} added, {removed} removed")
    if not shown:
        typer.echo("note: Kafka does not show all of the change yet; `acl plan` will, shortly")


async def _shown(admin: KafkaAdmin, added: set[Acl], removed: set[Acl]) -> bool:
    """Wait (at most 30 s) until Kafka shows the change: it answers once its controller has it,
    and a plan run right after could still see the old ACLs."""
    deadline = time.monotonic() + 30
    while True:
        current = await admin.describe_acls()
        if added <= current and not removed & current:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)


def _read_password() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        raise BizEventsError("no password on standard input")
    return line


@user_app.command("set")
def user_set(
    name: str = typer.Argument(..., help="The user (an app's name for its principal)."),
    mechanism: str = typer.Option("SCRAM-SHA-512", "--mechanism"),
) -> None:
    """Create a SCRAM user or change its password (read from standard input, never an
    argument, so it stays out of shell history and process lists)."""
    with _clear_errors():
        password = _read_password()
        settings = ContractsSettings()
        _with_admin(settings, lambda admin: admin.set_scram_user(name, password, mechanism))
    typer.echo(f"user {name} set ({mechanism})")


@user_app.command("delete")
def user_delete(
    name: str = typer.Argument(...),
    mechanism: str = typer.Option("SCRAM-SHA-512", "--mechanism"),
) -> None:
    """Delete a SCRAM user's credential."""
    with _clear_errors():
        _with_admin(ContractsSettings(), lambda admin: admin.delete_scram_user(name, mechanism))
    typer.echo(f"user {name} deleted")


@user_app.command("list")
def user_list(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """The SCRAM users and their mechanisms (never their credentials)."""
    with _clear_errors():
        users: dict[str, Any] = _with_admin(ContractsSettings(), lambda admin: admin.scram_users())
    if as_json:
        typer.echo(json.dumps(users, indent=2))
        return
    for user, mechanisms in sorted(users.items()):
        typer.echo(f"{user}  {', '.join(mechanisms)}")
