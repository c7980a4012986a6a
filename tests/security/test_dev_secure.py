"""`bizevents dev up --secure` prints how to log in, never the password itself."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from bizevents.cli import dev
from bizevents.devservices import KafkaServer, PostgresServer
from bizevents.settings import DevSettings
from secrets_registry import remember_secret


def test_secure_env_lines_point_at_the_password_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = DevSettings(state_dir=tmp_path, kafka_secure=True, kafka_port=29999)
    kafka, pg = KafkaServer(settings), PostgresServer(settings)
    dev._print_env(kafka, pg)
    out = capsys.readouterr().out
    password = remember_secret(kafka.admin_password_file.read_text().strip())
    assert password not in out
    assert stat.S_IMODE(kafka.admin_password_file.stat().st_mode) == 0o600
    assert "export BIZEVENTS_KAFKA_SASL_USERNAME=admin" in out
    assert "export BIZEVENTS_KAFKA_SASL_MECHANISM=SCRAM-SHA-512" in out
    # The printed lines, evaluated by a shell, log in as the admin.
    shell = subprocess.run(
        ["bash", "-c", f'{out}\nprintf %s "$BIZEVENTS_KAFKA_SASL_PASSWORD"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert shell.stdout == password


def test_a_plain_broker_prints_no_sasl_lines(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings = DevSettings(state_dir=tmp_path, kafka_port=29999)
    dev._print_env(KafkaServer(settings), PostgresServer(settings))
    assert "SASL" not in capsys.readouterr().out
    assert not (tmp_path / "kafka" / "admin.password").exists()
