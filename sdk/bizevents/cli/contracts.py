"""`bizevents contracts lint|diff|check|codegen|register`.

Human output is rich tables; `--json` prints one JSON document on stdout for machines (and
sends anything human to stderr). Exit codes: 0 fine, 1 invalid contracts or a breaking change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from ..contracts import ContractDiff, ContractSet, diff_contracts, load_contracts
from ..contracts.settings import ContractsSettings
from ..errors import BizEventsError, ProblemsError
from ..settings_doc import epilog
from . import problems as problem_output
from .base import command_group
from .problems import Format

app = command_group("Lint, diff, check and generate code from contracts.")
READS = epilog(ContractsSettings)

PATH = typer.Argument(
    None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
)
JSON_OUT = typer.Option(False, "--json", help="Machine-readable output on stdout.")
MODE_COLUMNS = ("BACKWARD", "FORWARD", "FULL", "NONE")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _path(path: Path | None) -> Path:
    return path if path is not None else ContractsSettings().contracts_path


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(
    exc: BizEventsError, as_json: bool, fmt: Format = Format.TABLE, base: Path | None = None
) -> typer.Exit:
    """Report an error (every problem when it carries several) and exit 1."""
    if as_json:
        fmt = Format.JSON
    problems = exc.problems if isinstance(exc, ProblemsError) else []
    summary = exc.summary if isinstance(exc, ProblemsError) else str(exc)
    if fmt is Format.JSON:
        typer.echo(problem_output.as_json(False, summary, problems, []))
    elif fmt is Format.GITHUB:
        for line in problem_output.as_github(problems, base):
            typer.echo(line)
        typer.echo(f"error: {summary}", err=True)
    else:
        typer.echo(f"error: {summary}", err=True)
        for line in problem_output.as_lines(problems):
            typer.echo(line, err=True)
    return typer.Exit(1)


def _load(path: Path, as_json: bool, fmt: Format = Format.TABLE) -> ContractSet:
    try:
        return load_contracts(path)
    except BizEventsError as exc:
        raise _fail(exc, as_json, fmt, path if path.is_dir() else path.parent) from exc


def _events_table(contracts: ContractSet) -> Table:
    table = Table(title=f"{len(contracts)} event types", title_justify="left")
    for column in ("service", "event type", "topic", "key", "mode", "publishers", "subscribers"):
        table.add_column(column, overflow="fold")
    for c in contracts:
        table.add_row(
            c.service,
            c.event_type,
            c.topic,
            c.key_field or "-",
            c.compatibility.value,
            ", ".join(c.publishers),
            ", ".join(c.subscribers) or "-",
        )
    return table


def _changes_table(diff: ContractDiff, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("event type", "change", "where", *MODE_COLUMNS, "details"):
        table.add_column(column, overflow="fold")
    for change in diff.changes:
        marks = [
            "[red]breaking[/red]" if change.breaking.get(m) else "[green]ok[/green]"
            for m in MODE_COLUMNS
        ]
        table.add_row(
            change.event_type, change.rule or change.kind, change.pointer, *marks, change.message
        )
    return table


@app.command(epilog=READS)
def lint(
    path: Path | None = PATH,
    as_json: bool = JSON_OUT,
    fmt: Format = typer.Option(
        Format.TABLE,
        "--format",
        help="table (for people), json, or github (annotations in a GitHub Actions log).",
    ),
) -> None:
    """Check the contracts (YAML, AsyncAPI 3.0, $refs, extensions, payload schemas); every
    problem is listed with file:line:column, exit 1 on any. Notes (advice) never fail."""
    if as_json:
        fmt = Format.JSON
    folder = _path(path)
    contracts = _load(folder, False, fmt)
    notes = contracts.notes
    if fmt is Format.JSON:
        document = json.loads(problem_output.as_json(True, "", [], notes))
        document["services"] = sorted(contracts.services)
        document["events"] = [
            {
                "event_type": c.event_type,
                "service": c.service,
                "topic": c.topic,
                "key_field": c.key_field,
                "compatibility": c.compatibility.value,
                "fingerprint": c.fingerprint(),
            }
            for c in contracts
        ]
        _emit(document)
        return
    summary = f"ok: {_count(len(contracts.services), 'service')}, {_count(len(contracts), 'event')}"
    if fmt is Format.GITHUB:
        base = folder if folder.is_dir() else folder.parent
        for line in problem_output.as_github(notes, base, level="notice"):
            typer.echo(line)
        typer.echo(summary)
        return
    Console().print(_events_table(contracts))
    for line in problem_output.as_lines(notes, label="note: "):
        typer.echo(line)
    typer.echo(summary + (f", {_count(len(notes), 'note')}" if notes else ""))


@app.command(epilog=READS)
def diff(
    old: Path = typer.Argument(..., help="The old contracts (folder or file)."),
    new: Path = typer.Argument(..., help="The new contracts (folder or file)."),
    as_json: bool = JSON_OUT,
) -> None:
    """Every change from OLD to NEW, classified breaking or not under each compatibility mode."""
    result = diff_contracts(_load(old, as_json), _load(new, as_json))
    if as_json:
        _emit(result.to_dict())
        return
    console = Console()
    if not result.changes:
        console.print("no changes")
        return
    console.print(_changes_table(result, f"{len(result.changes)} change(s) from {old} to {new}"))
    console.print(f"{len(result.breaking())} change(s) break their event type's own mode")


def _report_check(result: ContractDiff, against: str, as_json: bool) -> int:
    breaking = result.breaking()
    if as_json:
        _emit({"ok": not breaking, "against": against, **result.to_dict()})
    else:
        console = Console()
        if result.changes:
            console.print(_changes_table(result, f"Changes since {against}"))
        if breaking:
            console.print(
                f"[red]{len(breaking)} breaking change(s)[/red] under the event types' modes: "
                + ", ".join(sorted({f"{c.event_type} ({c.rule})" for c in breaking}))
            )
        else:
            console.print(f"[green]compatible with {against}[/green]")
    return 1 if breaking else 0


@app.command(epilog=READS)
def check(
    path: Path | None = PATH,
    against_git: str | None = typer.Option(
        None, "--against-git", metavar="REF", help="Compare with the contracts at this git ref."
    ),
    against_registry: bool = typer.Option(
        False, "--against-registry", help="Compare with the contract registry (PostgreSQL)."
    ),
    schema: str | None = typer.Option(
        None, "--schema", envvar="BIZEVENTS_REGISTRY_SCHEMA", help="Registry schema."
    ),
    as_json: bool = JSON_OUT,
) -> None:
    """For CI: compare the working tree's contracts with a git ref or the registry; exit 1 on a
    breaking change (judged by each event type's own compatibility mode)."""
    if (against_git is None) == (not against_registry):
        raise typer.BadParameter("give exactly one of --against-git REF or --against-registry")
    folder = _path(path)
    contracts = _load(folder, as_json)
    code = 0
    if against_git is not None:
        from ..contracts.gitref import load_contracts_at_ref

        try:
            baseline = load_contracts_at_ref(folder, against_git)
        except BizEventsError as exc:
            raise _fail(exc, as_json) from exc
        code = _report_check(
            diff_contracts(baseline or ContractSet({}), contracts), f"git {against_git}", as_json
        )
    else:
        from . import registry

        options: dict[str, Any] = {"as_json": as_json}
        if schema is not None:
            options["schema"] = schema
        code = registry.check_against_registry(contracts, **options)
    if code:
        raise typer.Exit(code)


@app.command(epilog=READS)
def codegen(
    path: Path | None = PATH,
    out: Path = typer.Option(..., "--out", help="Folder of the generated Python package."),
    as_json: bool = JSON_OUT,
) -> None:
    """Generate typed pydantic v2 models, one per event (datamodel-code-generator)."""
    from ..contracts.codegen import generate_models

    contracts = _load(_path(path), as_json)
    try:
        generated = generate_models(contracts, out)
    except BizEventsError as exc:
        raise _fail(exc, as_json) from exc
    if as_json:
        _emit(
            [
                {
                    "event_type": g.event_type,
                    "class": g.class_name,
                    "module": g.module,
                    "path": g.path,
                }
                for g in generated
            ]
        )
        return
    table = Table(title=f"models written to {out}", title_justify="left")
    for column in ("event type", "class", "module"):
        table.add_column(column)
    for g in generated:
        table.add_row(g.event_type, g.class_name, g.module)
    Console().print(table)


@app.command(epilog=READS)
def pull(
    url: str = typer.Argument(..., help="The broker, e.g. http://broker:8080"),
    out: Path = typer.Option(Path("contracts"), "--out", help="Folder to write into."),
    service: list[str] = typer.Option(
        [], "--service", "-s", metavar="SERVICE", help="Only this service (repeatable)."
    ),
) -> None:
    """Fetch the current contracts from the registry (one AsyncAPI file per service), so other
    repositories need not copy YAML files; they are checked before anything is written."""
    from ..contracts.pull import pull as pull_documents

    try:
        written = pull_documents(url, out, service or None)
    except BizEventsError as exc:
        raise _fail(exc, False) from exc
    for path in written:
        typer.echo(f"wrote {path}")


def _register_registry_commands() -> None:
    # `register` lives with the registry code (PostgreSQL); attach it when that module exists.
    try:
        from . import registry
    except ImportError:  # pragma: no cover - the registry is part of the same package
        return
    app.command("register", epilog=READS)(registry.register)


_register_registry_commands()


def _register_import_command() -> None:
    from .contracts_import import export_mendix_command, import_command

    app.command("import")(import_command)
    app.command("export-mendix")(export_mendix_command)


_register_import_command()
