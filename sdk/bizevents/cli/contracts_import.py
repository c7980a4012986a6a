"""`bizevents contracts import FILE`: a third-party AsyncAPI document -> a bizevents contract.

Without --out the contract goes to stdout and the assumptions to stderr. With --out the file is
written, then the folder it lands in is linted together (event types must stay unique across
files); when that fails the previous state is restored and every problem is listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ..contracts.extensions import MESHES
from ..contracts.importer import ImportOptions, ImportResult, import_asyncapi
from ..contracts.loader import load_contracts
from ..errors import BizEventsError, ContractError, Problem
from .contracts import _fail


def import_command(
    file: Path = typer.Argument(..., help="The AsyncAPI document (2.0-2.6 or 3.0-3.1)."),
    service: str | None = typer.Option(
        None, "--as", metavar="SERVICE", help="Service (app) name (default: from info.title)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the contract to this file, or to SERVICE.yaml in this folder."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Reverse-DNS prefix of the event types, e.g. com.partner.crm."
    ),
    owner: str | None = typer.Option(None, "--owner", help="x-bizevents-owner (default: SERVICE)."),
    param: list[str] = typer.Option(
        [], "--param", metavar="NAME=VALUE", help="Value of a channel parameter in addresses."
    ),
    mesh: str = typer.Option(
        "bizevents", "--mesh", help="'mendix' for a Mendix Business Events service export."
    ),
    refs_root: Path | None = typer.Option(
        None, "--refs-root", help="Folder $refs may reach (default: the document's folder)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable report on stdout."),
) -> None:
    """Import a third-party AsyncAPI document as a bizevents contract, listing every assumption."""
    try:
        if mesh not in MESHES:
            raise ContractError(
                "invalid --mesh",
                [Problem(f"--mesh must be one of {', '.join(MESHES)}", rule="cli")],
            )
        params = dict(_pair(p) for p in param)
        result = import_asyncapi(
            file,
            ImportOptions(
                service=service, owner=owner, namespace=namespace, params=params, mesh=mesh
            ),
            refs_root=refs_root,
        )
        written = _write(result, out, force) if out is not None else None
    except BizEventsError as exc:
        raise _fail(exc, as_json) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": True,
                    "service": result.service,
                    "source_version": result.source_version,
                    "events": list(result.events),
                    "assumptions": [{"event": a.event, "text": a.text} for a in result.assumptions],
                    "skipped": [
                        {"file": p.file, "pointer": p.pointer, "message": p.message}
                        for p in result.skipped
                    ],
                    "written": str(written) if written else None,
                    "contract": None if written else result.text,
                },
                indent=2,
            )
        )
        return
    if written is None:
        typer.echo(result.text, nl=False)
    console = Console(stderr=True)
    console.print(f"{len(result.assumptions)} assumption(s):")
    for assumption in result.assumptions:
        console.print(f"  - {escape(str(assumption))}", soft_wrap=True)
    for problem in result.skipped:
        console.print(f"[yellow]not imported:[/yellow] {escape(str(problem))}", soft_wrap=True)
    where = f"written to {written}" if written else "printed above"
    console.print(
        f"[green]ok[/green]: service {result.service}, {len(result.events)} event type(s), {where}"
    )


def _pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ContractError("invalid --param", [Problem(f"{text!r} is not NAME=VALUE", rule="cli")])
    return name, value


def _write(result: ImportResult, out: Path, force: bool) -> Path:
    # A path ending in .yaml/.yml is the file; anything else is a folder.
    target = out if out.suffix in (".yaml", ".yml") else out / f"{result.service}.yaml"
    previous = target.read_text("utf-8") if target.exists() else None
    if previous is not None and not force:
        raise ContractError(
            f"{target} exists", [Problem("pass --force to overwrite it", file=str(target))]
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(result.text, "utf-8")
    try:
        load_contracts(target.parent)  # unique event types and services across the folder
    except ContractError as exc:
        if previous is None:
            target.unlink()
        else:
            target.write_text(previous, "utf-8")
        raise ContractError(
            f"the imported contract does not fit into {target.parent} (nothing written)",
            exc.problems,
        ) from exc
    return target


def export_mendix_command(
    service: str = typer.Argument(..., help="The service whose Mendix-mesh events to export."),
    path: Path | None = typer.Argument(
        None, help="Contracts folder or file (default: BIZEVENTS_CONTRACTS_PATH or ./contracts)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write to this file (default: stdout)."),
) -> None:
    """Write a service's Mendix-mesh events as a Mendix-style business event service document
    (AsyncAPI 2.x), for a Mendix app to consume them."""
    import yaml

    from ..contracts.mendix import export_service
    from ..contracts.settings import ContractsSettings

    try:
        contracts = load_contracts(path if path is not None else ContractsSettings().contracts_path)
        try:
            document = export_service(contracts, service)
        except ValueError as exc:
            raise ContractError(
                f"cannot export {service}", [Problem(str(exc), rule="mesh")]
            ) from exc
    except BizEventsError as exc:
        raise _fail(exc, False) from exc
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, "utf-8")
    Console(stderr=True).print(f"[green]ok[/green]: {service} written to {escape(str(out))}")
