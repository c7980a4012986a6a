"""Settings: every variable documented (README in step with the classes), lists as `5,30`, and a
bad value is one clear line naming the variable in every command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bizevents.errors import ConfigurationError
from bizevents.settings import DevSettings, RelaySettings
from bizevents.settings_doc import TABLE_END, TABLE_START, markdown_table, settings_classes
from bizevents.worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[2]
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")


def test_readme_table_is_generated_from_the_settings_classes() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0].strip()
    assert block == markdown_table(), (
        "README's settings table is stale: run `bizevents settings --update README.md`"
    )


def test_every_setting_has_a_description() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls, _ in settings_classes()
        for name, info in cls.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert not missing, f"add Field(description=...) to {missing}"


def test_every_variable_named_in_code_or_docs_exists() -> None:
    known = set(re.findall(r"`(BIZEVENTS_[A-Z0-9_]+)`", markdown_table()))
    # The test suite's own switches.
    allowed = {"BIZEVENTS_UPDATE_SCREENSHOT", "BIZEVENTS_CHAOS", "BIZEVENTS_HOSTILE_EXAMPLES",
               "BIZEVENTS_HOSTILE_REPORT", "BIZEVENTS_HOSTILE_DETAIL"}  # fmt: skip
    is_test_switch = re.compile(r"^BIZEVENTS_TEST_").match
    sources = [ROOT / "README.md", ROOT / "contracts" / "README.md"]
    sources += [p for d in ("sdk", "broker", "deploy", "examples") for p in (ROOT / d).rglob("*")]
    unknown: dict[str, str] = {}
    for path in sources:
        if not path.is_file() or path.suffix not in (".py", ".md", ".sh", ".yml", ".yaml"):
            continue
        text = path.read_text(errors="ignore")
        # `BIZEVENTS_RETRY_*` names a family, not a variable.
        for name in re.findall(r"BIZEVENTS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_]*\*)", text):
            if name not in known and name not in allowed and not is_test_switch(name):
                unknown[name] = str(path.relative_to(ROOT))
    assert not unknown, unknown


def test_lists_are_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZEVENTS_RETRY_DELAYS", "5,30")
    monkeypatch.setenv("BIZEVENTS_GROUPS", "billing, audit")
    settings = WorkerSettings()
    assert settings.retry_delays == [5.0, 30.0]
    assert settings.groups == ["billing", "audit"]
    monkeypatch.setenv("BIZEVENTS_RETRY_DELAYS", "[1, 2.5]")
    monkeypatch.setenv("BIZEVENTS_GROUPS", "")
    settings = WorkerSettings()
    assert settings.retry_delays == [1.0, 2.5] and settings.groups == []


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("BIZEVENTS_RETRY_DELAYS", "5,x", "BIZEVENTS_RETRY_DELAYS='x' (item 2): input should be"),
        ("BIZEVENTS_RETRY_DELAYS", "5,-1", "BIZEVENTS_RETRY_DELAYS="),
        ("BIZEVENTS_CONCURRENCY", "lots", "BIZEVENTS_CONCURRENCY='lots': input should be"),
        ("BIZEVENTS_AUTO_OFFSET_RESET", "oldest", "input should be 'earliest' or 'latest'"),
        ("BIZEVENTS_LOG_LEVEL", "loud", "BIZEVENTS_LOG_LEVEL='loud': input should be 'DEBUG'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        WorkerSettings()
    message = str(caught.value)
    assert expected in message and "\n" not in message and "pydantic" not in message


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZEVENTS_DATABASE_URL", "postgresql://u:hunter2@db/x")
    monkeypatch.setenv("BIZEVENTS_RELAY_BATCH_SIZE", "0")
    with pytest.raises(ConfigurationError) as caught:
        RelaySettings()
    assert "hunter2" not in str(caught.value)
    assert "BIZEVENTS_RELAY_BATCH_SIZE='0'" in str(caught.value)
    from bizevents_broker.settings import BrokerSettings

    with pytest.raises(ConfigurationError) as caught:
        BrokerSettings(admin_token=["s3cret"])
    assert "s3cret" not in str(caught.value) and "BIZEVENTS_ADMIN_TOKEN=***" in str(caught.value)


def test_dev_ports_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="BIZEVENTS_KAFKA_PORT=70000"):
        DevSettings(kafka_port=70000)


COMMANDS = [
    ["relay"],
    ["outbox", "status"],
    ["worker", "app:events"],
    ["dlq", "list"],
    ["dlq", "ingest"],
    ["replay", "--group", "g", "--from", "1h"],
    ["broker", "serve"],
    ["dev", "status"],
    ["contracts", "lint"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_every_command_reports_a_bad_setting_in_one_line(command: list[str]) -> None:
    env = {**os.environ, "BIZEVENTS_LOG_LEVEL": "loud"}
    done = subprocess.run(
        [BIZEVENTS, *command], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode in (1, 2), done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: BIZEVENTS_LOG_LEVEL='loud'"), lines[0]


def test_process_commands_name_their_variables_in_help() -> None:
    from typer.testing import CliRunner

    from bizevents.cli import app

    runner = CliRunner()
    for command, variable in [
        (["worker"], "BIZEVENTS_RETRY_DELAYS"),
        (["relay"], "BIZEVENTS_RELAY_BATCH_SIZE"),
        (["dlq", "ingest"], "BIZEVENTS_DLQ_TOPIC_PATTERN"),
        (["broker", "serve"], "BIZEVENTS_ADMIN_TOKEN"),
        (["dev", "up"], "BIZEVENTS_KAFKA_CONTROLLER_PORT"),
    ]:
        text = runner.invoke(app, [*command, "--help"], terminal_width=100).output
        assert variable in " ".join(text.split()).replace("- ", "-"), (command, text)
