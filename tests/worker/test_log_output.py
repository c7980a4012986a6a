"""What a worker process prints: with --log-json nothing but JSON lines (the libraries' lines
included), no `key=None` fields, no aiokafka INFO chatter, and a line when it stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .worker_helpers import APPS, ROOT, Kafka, envelope, wait_until

pytestmark = [pytest.mark.services]


async def test_worker_log_json_is_pure_json_and_quiet(
    kafka: Kafka, group: str, services: Any, tmp_path: Path
) -> None:
    etype = await kafka.new_type(partitions=1)
    out = tmp_path / "out.txt"
    await kafka.send(etype, [envelope(etype, {"n": 1}, key="k")])
    env = {
        **os.environ,
        "APP_TYPE": etype,
        "APP_GROUP": group,
        "APP_OUT": str(out),
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "BIZEVENTS_LOG_LEVEL": "INFO",
        "PYTHONPATH": f"{APPS}{os.pathsep}{ROOT / 'sdk'}",
    }
    env.pop("BIZEVENTS_LOG_JSON", None)
    log = tmp_path / "log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "bizevents"),
                "worker",
                "killable:events",
                "--log-json",
            ],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=APPS,
        )
    try:
        await wait_until(lambda: out.exists() and "done 1" in out.read_text(), 60)
        proc.send_signal(signal.SIGTERM)
        await wait_until(lambda: proc.poll() is not None, 30)
    finally:
        proc.kill()
    lines = log.read_text().splitlines()
    assert lines
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not JSON: {line!r}")
    assert all({"event", "level", "timestamp"} <= set(p) for p in parsed), parsed
    assert not [p for p in parsed if None in p.values()], "a key=None field was logged"
    assert not [
        p
        for p in parsed
        if str(p.get("logger", "")).startswith("aiokafka") and p["level"] in ("info", "debug")
    ]
    events = [p["event"] for p in parsed]
    assert "worker group started" in events and "worker group stopped" in events
