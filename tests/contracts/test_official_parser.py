"""Our AsyncAPI documents pass the official parser (@asyncapi/parser on the machine's Node.js),
and the same harness does fail on a broken document (so a pass means something)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .helpers import EXAMPLE, ROOT

TOOL = ROOT / "tools" / "asyncapi"
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (deploy/run.sh installs it)"),
    pytest.mark.skipif(
        not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir(),
        reason="tools/asyncapi/node_modules missing: run `npm ci` there (deploy/run.sh does)",
    ),
    pytest.mark.timeout(120),
]


def validate(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(TOOL / "validate.js"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_every_contract_document_passes_the_official_parser() -> None:
    code, report = validate(EXAMPLE)
    documents = [r for r in report if not r["skipped"]]
    assert {Path(r["file"]).name for r in documents} == {
        "orders.yaml",
        "shipping.yaml",
        "billing.yaml",
    }
    assert all(r["parsed"] and r["errors"] == [] for r in documents), report
    assert code == 0


def test_the_official_parser_reports_a_broken_document(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE / "common.yaml", tmp_path / "common.yaml")
    text = (EXAMPLE / "orders.yaml").read_text()
    broken = text.replace("action: send", "action: publish", 1).replace(
        "#/components/schemas/OrderItem", "#/components/schemas/Missing"
    )
    (tmp_path / "orders.yaml").write_text(broken)
    code, report = validate(tmp_path / "orders.yaml")
    assert code == 1
    (result,) = report
    paths = {e["path"] for e in result["errors"]}
    assert "/operations/publishOrderPlaced/action" in paths
    assert any("Missing" in e["message"] for e in result["errors"])
