"""Lint as a new user meets it: every problem in one run, once, in words (no meta-schema text),
with the bad value, a "did you mean", file:line:column, and output for people, CI and machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bizevents.cli import app
from bizevents.contracts import load_contracts
from bizevents.errors import ContractError, Problem

from .helpers import document, thing_channel, write

runner = CliRunner()


def _broken(folder: Path) -> Path:
    channel = thing_channel(
        **{
            "x-bizevents-subscriber": ["billing"],  # typo of x-bizevents-subscribers
            "x-bizevents-retention": "7 days",
            "x-bizevents-compatibility": "BACKWARDS",
            "bogus": 1,
        }
    )
    payload: dict[str, Any] = channel["payload"]
    payload["required"] = ["id", "totl"]  # key field present but see below; totl undeclared
    payload["properties"]["size"] = {"type": "integr"}  # a type error elsewhere
    payload["properties"]["id"] = {"type": "number"}  # key field must be string or integer
    return write(folder, "things.yaml", document(events={"thingHappened": channel}))


def _problems(folder: Path) -> list[Problem]:
    with pytest.raises(ContractError) as caught:
        load_contracts(folder)
    return caught.value.problems


def test_every_problem_at_once_in_words(tmp_path: Path) -> None:
    path = _broken(tmp_path)
    problems = _problems(tmp_path)
    rules = sorted(p.rule for p in problems)
    # The key-field problem is reported together with the schema error, not after it is fixed.
    assert rules.count("key") == 1 and rules.count("required") == 1, problems
    assert {"extension", "asyncapi", "key", "required"} <= set(rules), problems
    text = "\n".join(p.message for p in problems)
    assert "regexes" not in text and "does not match any of" not in text
    assert "did you mean 'x-bizevents-subscribers'?" in text
    assert "did you mean 'integer'?" in text
    assert "did you mean 'BACKWARD'?" in text
    assert "'totl' is required but not among the properties" in text
    assert "'7 days'" in text  # the bad value is echoed
    assert "unknown key 'bogus'" in text
    # Once each.
    assert len({(p.file, p.line, p.message) for p in problems}) == len(problems)
    # Line and column point at the offending text.
    lines = path.read_text().splitlines()
    for p in problems:
        assert p.line is not None and p.column is not None, p
        token = p.pointer.rsplit("/", 1)[-1]
        at = lines[p.line - 1][p.column - 1 :]
        if p.rule != "required":  # a list item points at the item's value
            assert at.startswith(token) or at.lstrip("- ").startswith(token), (p, at)


def test_formats(tmp_path: Path) -> None:
    _broken(tmp_path / "contracts")
    table = runner.invoke(app, ["contracts", "lint", str(tmp_path / "contracts")])
    assert table.exit_code == 1
    assert "┃" not in table.output and "│" not in table.output
    assert "things.yaml:" in table.output and "[required]" in table.output

    github = runner.invoke(
        app, ["contracts", "lint", str(tmp_path / "contracts"), "--format", "github"]
    )
    assert github.exit_code == 1
    annotations = [line for line in github.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == len(_problems(tmp_path / "contracts"))
    first = annotations[0]
    assert f"file={(tmp_path / 'contracts' / 'things.yaml').as_posix()}" in first
    assert ",line=" in first and ",col=" in first and "title=bizevents [" in first

    as_json = runner.invoke(
        app, ["contracts", "lint", str(tmp_path / "contracts"), "--format", "json"]
    )
    document_ = json.loads(as_json.stdout)
    assert document_["ok"] is False
    assert all(isinstance(p["line"], int) for p in document_["problems"])


def test_open_schema_gets_a_note_closed_does_not(tmp_path: Path) -> None:
    write(tmp_path / "open", "things.yaml", document())
    done = runner.invoke(app, ["contracts", "lint", str(tmp_path / "open")])
    assert done.exit_code == 0, done.output
    assert "note: things.yaml:" in done.output and "[open-schema]" in done.output
    closed = thing_channel()
    closed["payload"]["additionalProperties"] = False
    write(tmp_path / "closed", "things.yaml", document(events={"thingHappened": closed}))
    contracts = load_contracts(tmp_path / "closed")
    assert contracts.notes == []
    github = runner.invoke(app, ["contracts", "lint", str(tmp_path / "open"), "--format", "github"])
    assert github.exit_code == 0 and github.stdout.startswith("::notice ")


def test_required_not_in_properties_is_refused_nested_too(tmp_path: Path) -> None:
    channel = thing_channel()
    channel["payload"]["properties"]["address"] = {
        "type": "object",
        "required": ["street"],
        "properties": {"city": {"type": "string"}},
    }
    write(tmp_path, "things.yaml", document(events={"thingHappened": channel}))
    (problem,) = _problems(tmp_path)
    assert problem.rule == "required" and "'street'" in problem.message
    assert problem.pointer.endswith("/properties/address/required/0")
