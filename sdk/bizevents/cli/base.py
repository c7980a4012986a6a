"""What every `bizevents` command group shares: plain help text that wraps paragraphs to the
terminal (the rich boxes kept docstring line breaks and printed `<bool>` beside flags)."""

from __future__ import annotations

from typing import Any

import typer


def command_group(help: str, **options: Any) -> typer.Typer:
    return typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        help=help,
        **options,
    )
