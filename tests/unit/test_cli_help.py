"""`bizevents --version` and help text that reads well at 80 columns, for every command."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import typer.main
from typer.testing import CliRunner

from bizevents.cli import app

runner = CliRunner()


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"bizevents {version('bizevents')}"


def test_every_help_fits_80_columns_without_type_hints_on_flags() -> None:
    root = typer.main.get_command(app)
    paths = list(_commands(root))
    assert ("dlq", "list") in paths and ("worker",) in paths
    for path in [(), *paths]:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, (path, result.output)
        text = result.output
        assert "<bool>" not in text, path
        assert "╭" not in text, path
        too_long = [line for line in text.splitlines() if len(line) > 80]
        assert not too_long, (path, too_long)


def test_docstring_paragraphs_are_rewrapped_not_cut_at_source_line_breaks() -> None:
    result = runner.invoke(app, ["replay", "--help"], terminal_width=120)
    flat = " ".join(result.output.split())
    assert "copied to the group's replay topic, which its running worker consumes" in flat
    # Wrapped to the terminal: a line ends only where the next word would not fit.
    lines = [line for line in result.output.splitlines() if line.startswith("  Re-process")]
    assert lines and len(lines[0]) > 90
