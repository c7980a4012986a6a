"""bench/report.py must not rot: its machinery runs real benchmarks at tiny sizes and writes the
report with its sections and plots.

The tiny profile runs backlog.py (a relay draining a small outbox) and bridges.py against
the real Kafka and PostgreSQL; the other benchmarks take minutes each and are left to
`bench/report.py --quick`, so their sections must say they were not run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report.py"), *args],
        cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=170,
        check=False,
    )  # fmt: skip


@pytest.mark.timeout(180)
def test_tiny_report_has_its_sections_and_plots(services, tmp_path: Path) -> None:
    env = {
        "BIZEVENTS_DATABASE_URL": services.database_url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
    }
    done = report("--profile", "tiny", "--results", str(tmp_path), "--no-readme", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((tmp_path / "report.json").read_text())
    assert [s["name"] for s in meta["steps"]] == ["relay batch 100", "bridges"]
    assert all(s["status"] == "ok" for s in meta["steps"]), meta["steps"]
    assert all(len(s["load_before"]) == 3 and len(s["load_after"]) == 3 for s in meta["steps"])
    assert meta["machine"]["cores"] == os.cpu_count()
    for key in ("cpu_model", "memory_gb", "kafka", "postgresql", "aiokafka", "python"):
        assert meta["machine"][key] and "unknown" not in str(meta["machine"][key]), key

    text = (tmp_path / "REPORT.md").read_text()
    for heading in ("## Machine", "## Summary", "## Relay: backlog drain and batch size",
                    "## OData and SOAP bridges", "## Capacity model", "## Steps"):  # fmt: skip
        assert heading in text, heading
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert "relay batch size sweep (rows/s) | 100: " in summary
    assert "OData query over 5,000 log rows" in summary
    # Every summary row carries the load of the run it comes from.
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 4  # the header, the sweep, OData, SOAP
    assert all("→" in row.rsplit("|", 2)[1] for row in rows[1:])
    for missing in ("## Consuming", "## Batch handlers", "## Worker processes", "## HTTP gateway",
                    "## Soak"):  # fmt: skip
        part = text.split(missing, 1)[1].split("\n## ", 1)[0]
        assert "Not run in this report" in part, missing
    capacity = text.split("## Capacity model", 1)[1].split("\n## ", 1)[0]
    assert "Batch size: 100 → " in capacity and "extrapolation" in capacity
    for plot in ("throughput.png", "latency.png", "drain.png"):
        data = (tmp_path / plot).read_bytes()
        assert data.startswith(PNG) and len(data) > 5000, plot
        assert f"]({plot})" in text, plot
    assert not (tmp_path / "soak.png").exists() and not (tmp_path / "workers.png").exists()


def test_render_of_an_empty_directory_says_what_was_not_run(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    text = module.render(tmp_path).read_text()
    assert text.count("Not run in this report") == 9
    assert "(not measured in this run)" in text
    assert not list(tmp_path.glob("*.png"))
