"""Registry commands: `bizevents contracts register [PATH]` and the registry side of
`bizevents contracts check --against-registry` (attached by cli/contracts.py).

`register` is a typer command function; `check_against_registry` renders a report and returns
the exit code.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import asyncpg
import typer
from rich.console import Console
from rich.table import Table

from ..contracts import ContractSet, load_contracts
from ..contracts.registry import DEFAULT_SCHEMA, Plan, Registration, Registry, problem_json
from ..contracts.settings import ContractsSettings
from ..errors import BizEventsError, Problem, ProblemsError, ServiceError
from ..logging import redact_url

SCHEMA_OPTION = typer.Option(
    DEFAULT_SCHEMA,
    "--schema",
    envvar="BIZEVENTS_REGISTRY_SCHEMA",
    help="PostgreSQL schema holding the registry.",
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")
CONNECT_TIMEOUT = 15.0  # seconds: fail clearly instead of hanging in CI


async def _with_registry(database_url: str, schema: str, work: Any) -> Any:
    try:
        registry = await asyncio.wait_for(Registry.connect(database_url, schema), CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise ServiceError(
            f"cannot open the registry at {redact_url(database_url)} (schema {schema}): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    try:
        return await work(registry)
    finally:
        await registry.close()


def _problems_table(problems: list[Problem], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("against", "pointer", "rule", "problem"):
        table.add_column(column, overflow="fold")
    for p in problems:
        table.add_row(p.file, p.pointer or "/", p.rule, p.message)
    return table


def _registrations_table(registrations: list[Registration], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("event type", "version", "status", "fingerprint"):
        table.add_column(column, overflow="fold")
    for r in registrations:
        status = "new" if r.created else "unchanged"
        table.add_row(r.event_type, str(r.version), status, r.fingerprint[:16])
    return table


def _fail(exc: BizEventsError, as_json: bool) -> typer.Exit:
    console = Console(stderr=True)
    if as_json:
        problems = [problem_json(p) for p in exc.problems] if isinstance(exc, ProblemsError) else []
        summary = exc.summary if isinstance(exc, ProblemsError) else str(exc)
        typer.echo(json.dumps({"ok": False, "error": summary, "problems": problems}, indent=2))
    elif isinstance(exc, ProblemsError):
        console.print(f"[red]error:[/red] {exc.summary}")
        console.print(_problems_table(exc.problems, "Problems"))
    else:
        console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(1)


def register(
    path: Path | None = typer.Argument(
        None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
    ),
    as_json: bool = JSON_OPTION,
    schema: str = SCHEMA_OPTION,
) -> None:
    """Register contracts in the registry: new versions for changed events, nothing for unchanged
    ones; refused (exit 1, every violation listed) if a change breaks an event's mode."""
    console = Console(stderr=as_json)
    settings = ContractsSettings()
    try:
        contracts = load_contracts(path or settings.contracts_path)
        registrations: list[Registration] = asyncio.run(
            _with_registry(settings.database_url, schema, lambda r: r.register(contracts))
        )
    except BizEventsError as exc:
        raise _fail(exc, as_json) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {"ok": True, "registrations": [r.to_json() for r in registrations]}, indent=2
            )
        )
        return
    created = sum(r.created for r in registrations)
    console.print(_registrations_table(registrations, f"Registry schema {schema}"))
    console.print(f"{created} new version(s), {len(registrations) - created} unchanged")


def check_against_registry(
    contracts: ContractSet,
    *,
    as_json: bool = False,
    schema: str = DEFAULT_SCHEMA,
    database_url: str | None = None,
) -> int:
    """Print whether registering `contracts` would be accepted; the exit code (1 if not)."""
    console = Console(stderr=as_json)
    url = database_url or ContractsSettings().database_url
    try:
        plan: Plan = asyncio.run(_with_registry(url, schema, lambda r: r.check(contracts)))
    except BizEventsError as exc:
        _fail(exc, as_json)
        return 1
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
    else:
        console.print(_registrations_table(plan.registrations, "Compared with the registry"))
        if plan.problems:
            console.print(_problems_table(plan.problems, "Breaking changes"))
            console.print(f"[red]{len(plan.problems)} breaking change(s)[/red]")
        else:
            console.print("[green]compatible with the registry[/green]")
    return 1 if plan.problems else 0
