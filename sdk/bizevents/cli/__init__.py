"""The `bizevents` command."""

from __future__ import annotations

import typer

from . import dev

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="bizevents: business events between applications.",
)
app.add_typer(dev.app, name="dev")


def main() -> None:
    app()
