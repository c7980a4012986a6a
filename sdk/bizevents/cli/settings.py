"""`bizevents settings`: every BIZEVENTS_* variable, its default, what it does, who reads it."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import typer

from ..settings_doc import as_json, markdown_table, variables, with_table


def settings(
    markdown: bool = typer.Option(False, "--markdown", help="The README's table."),
    as_json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    update: Path | None = typer.Option(
        None, "--update", help="Rewrite the table between the settings-table markers of this file."
    ),
) -> None:
    """List every environment variable bizevents reads; `*` marks the ones set now."""
    if update is not None:
        update.write_text(with_table(update.read_text()))
        return
    if markdown:
        typer.echo(markdown_table())
        return
    if as_json_out:
        typer.echo(as_json())
        return
    for v in variables():
        mark = "*" if v.name in os.environ else " "
        default = f" (default {v.default})" if v.default else ""
        typer.echo(f"{mark} {v.name}{default}  [{', '.join(v.used_by)}]")
        typer.echo(textwrap.indent(textwrap.fill(f"{v.description}; {v.kind}.", 76), "    "))
