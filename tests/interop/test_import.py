"""`bizevents contracts import`: real third-party AsyncAPI documents (the AsyncAPI specification's
examples, see asyncapi_examples/NOTICE.md) become contracts that our loader and the official
AsyncAPI parser accept; every default is listed; bad input gets a clear error."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bizevents import Events, PayloadValidationError
from bizevents.cli import app
from bizevents.contracts import load_contract_texts, load_contracts
from bizevents.contracts.importer import ImportOptions, import_asyncapi
from bizevents.errors import ContractError

HERE = Path(__file__).parent
EXAMPLES = HERE / "asyncapi_examples"
PARTNER = HERE / "partner"
ROOT = HERE.parent.parent
TOOL = ROOT / "tools" / "asyncapi"
NODE = shutil.which("node")
needs_parser = pytest.mark.skipif(
    NODE is None or not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir(),
    reason="node or tools/asyncapi/node_modules missing (deploy/run.sh installs them)",
)
runner = CliRunner()


def official_parser(*paths: Path) -> list[dict[str, Any]]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(TOOL / "validate.js"), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode in (0, 1), done.stderr
    report: list[dict[str, Any]] = json.loads(done.stdout)
    return report


def contracts_of(text: str, name: str = "imported.yaml") -> dict[str, Any]:
    return {c.event_type: c for c in load_contract_texts({name: text})}


def test_streetlights_2_6_and_3_0_import_to_the_same_contracts() -> None:
    options = ImportOptions(service="streetlights", namespace="com.smartylighting.streetlights")
    old = import_asyncapi(EXAMPLES / "streetlights-kafka-2.6.yml", options)
    new = import_asyncapi(EXAMPLES / "streetlights-kafka-3.0.yml", options)
    assert (old.source_version, new.source_version) == ("2.6.0", "3.0.0")
    a, b = contracts_of(old.text), contracts_of(new.text)
    assert (
        sorted(a)
        == sorted(b)
        == [
            f"com.smartylighting.streetlights.{n}.v1"
            for n in ("DimLight", "LightMeasured", "TurnOff", "TurnOn")
        ]
    )
    for event_type, contract in a.items():
        other = b[event_type]
        assert (contract.topic, contract.publishers, dict(contract.schema)) == (
            other.topic,
            other.publishers,
            dict(other.schema),
        )
    measured = a["com.smartylighting.streetlights.LightMeasured.v1"]
    # The {streetlightId} segment is left out of the topic; the service receives measurements.
    assert measured.topic == "smartylighting.streetlights.1.0.event.lighting.measured"
    assert measured.publishers == ()
    assert a["com.smartylighting.streetlights.TurnOn.v1"].publishers == ("streetlights",)
    # YAML 1.2, as the AsyncAPI parser reads it: the 2.6 example's unquoted `on`/`off` are strings.
    command = a["com.smartylighting.streetlights.TurnOn.v1"].schema["properties"]["command"]
    assert command["enum"] == ["on", "off"]
    assumptions = [str(x) for x in old.assumptions]
    assert any("'streetlightId' is left out of the topic" in x for x in assumptions)
    assert any("headers are kept as documentation" in x for x in assumptions)
    assert "# Assumptions made" in old.text


def test_imported_contracts_validate_payloads_for_publishing() -> None:
    result = import_asyncapi(
        EXAMPLES / "streetlights-kafka-3.0.yml", ImportOptions(service="lights")
    )
    contracts = load_contract_texts({"lights.yaml": result.text})
    events = Events(app="lights", contracts=contracts)
    event_type = next(t for t in contracts.event_types if t.endswith(".DimLight.v1"))
    built = events.build(event_type, {"percentage": 40, "sentAt": "2026-11-30T01:00:00Z"})
    assert built.topic == "smartylighting.streetlights.1.0.action.dim"
    with pytest.raises(PayloadValidationError) as info:
        events.build(event_type, {"percentage": 140})
    assert info.value.problems[0].pointer == "/percentage"


def test_oneof_messages_become_one_event_type_each_on_a_shared_topic() -> None:
    result = import_asyncapi(EXAMPLES / "oneof-2.6.yml", ImportOptions(service="oneof"))
    contracts = contracts_of(result.text)
    on_test2 = [c for c in contracts.values() if c.topic == "test2"]
    assert len(on_test2) == 2 and len(contracts) == 3
    assert {tuple(c.schema["properties"]) for c in on_test2} == {("key",), ("key2",)}
    # A payload that is a oneOf of objects is taken as an object (and says so).
    assert any("taken as type object" in str(a) for a in result.assumptions)


def test_multi_file_document_with_traits_bindings_parameters_and_headers() -> None:
    with pytest.raises(ContractError) as info:
        import_asyncapi(PARTNER / "service" / "asyncapi.yaml")
    assert "--refs-root" in str(info.value)
    result = import_asyncapi(
        PARTNER / "service" / "asyncapi.yaml", ImportOptions(service="crm"), refs_root=PARTNER
    )
    contracts = contracts_of(result.text)
    created = contracts["com.partner.crm.CustomerCreated.v2"]
    deleted = contracts["com.partner.crm.CustomerDeleted.v2"]
    merge = contracts["com.partner.crm.MergeRequested.v2"]
    assert created.topic == deleted.topic == "crm.emea.customers"  # the parameter's default
    assert created.key_field == deleted.key_field == "customerId"  # the Kafka binding's key
    assert created.retention_ms == 604_800_000
    assert created.source == "urn:com:partner:crm"
    assert merge.topic == "crm-merge-requests"  # the Kafka binding's topic wins over the name
    assert merge.key_field is None and merge.publishers == ()
    assert merge.schema["properties"]["merged"]["items"]["format"] == "uuid"
    document = load_contract_texts({"crm.yaml": result.text}).services["crm"].document
    message = document["components"]["messages"]["CustomerCreated"]
    assert message["headers"]["properties"] == {"x-correlation-id": {"type": "string"}}  # trait
    assert message["contentType"] == "application/json"
    chosen = import_asyncapi(
        PARTNER / "service" / "asyncapi.yaml",
        ImportOptions(service="crm", params={"region": "apac"}),
        refs_root=PARTNER,
    )
    assert contracts_of(chosen.text)["com.partner.crm.CustomerCreated.v2"].topic == (
        "crm.apac.customers"
    )


@needs_parser
def test_imported_contracts_pass_the_official_parser(tmp_path: Path) -> None:
    imports = [
        (EXAMPLES / "streetlights-kafka-2.6.yml", None),
        (EXAMPLES / "streetlights-kafka-3.0.yml", None),
        (EXAMPLES / "oneof-2.6.yml", None),
        (PARTNER / "service" / "asyncapi.yaml", PARTNER),
    ]
    for i, (path, root) in enumerate(imports):
        result = import_asyncapi(path, ImportOptions(service=f"svc{i}"), refs_root=root)
        (tmp_path / f"svc{i}.yaml").write_text(result.text)
    load_contracts(tmp_path)  # and together, as one contracts folder
    # One parser run (node is slow to start): our outputs, and the inputs, which are valid
    # documents for the official parser too.
    report = official_parser(tmp_path, *(p for p, _ in imports))
    assert len(report) == 8
    assert all(r["parsed"] and not r["errors"] for r in report), report


def test_avro_payloads_are_refused_with_the_reason_and_exit_1(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as info:
        import_asyncapi(EXAMPLES / "adeo-kafka-request-reply-3.1.yml")
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 2
    assert all("application/vnd.apache.avro" in m for m in messages)
    done = runner.invoke(
        app,
        [
            "contracts",
            "import",
            str(EXAMPLES / "adeo-kafka-request-reply-3.1.yml"),
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert done.exit_code == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and "nothing to import" in report["error"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("version", ["1.2.0", "2.7.0", "3.2.0", "4.0.0"])
def test_unsupported_asyncapi_versions_get_one_clear_error(tmp_path: Path, version: str) -> None:
    source = tmp_path / "doc.yaml"
    source.write_text(f"asyncapi: {version}\ninfo: {{title: x, version: 1.0.0}}\nchannels: {{}}\n")
    with pytest.raises(ContractError) as info:
        import_asyncapi(source)
    (problem,) = info.value.problems
    assert problem.rule == "asyncapi-version" and version in problem.message
    assert "2.0-2.6 and 3.0-3.1" in problem.message


def test_unusable_messages_are_skipped_with_the_reason(tmp_path: Path) -> None:
    source = tmp_path / "doc.yaml"
    source.write_text(
        """
asyncapi: 3.0.0
info: {title: Mixed Bag, version: 0.4.0}
channels:
  notes:
    address: notes
    messages:
      note: {payload: {type: string}}
      tuple: {payload: {type: object, properties: {p: {type: array, items: [{type: string}]}}}}
      remote: {payload: {$ref: 'https://example.com/schema.json'}}
      ok: {name: noteAdded, payload: {type: object, properties: {text: {type: string}}}}
operations:
  addNote: {action: send, channel: {$ref: '#/channels/notes'}}
"""
    )
    result = import_asyncapi(source)
    assert result.events == ("imported.mixed-bag.NoteAdded.v1",)
    skipped = " | ".join(p.message for p in result.skipped)
    assert "'string', not an object" in skipped
    assert "tuple arrays" in skipped
    assert "remote $ref" in skipped
    assert any("major version 0" in str(a) for a in result.assumptions)


def test_cli_writes_into_a_folder_and_refuses_clashes(tmp_path: Path) -> None:
    source = str(EXAMPLES / "streetlights-kafka-3.0.yml")
    done = runner.invoke(
        app, ["contracts", "import", source, "--as", "lights", "--out", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    written = tmp_path / "lights.yaml"
    assert written.is_file() and "assumption(s)" in done.stderr
    assert runner.invoke(app, ["contracts", "lint", str(tmp_path)]).exit_code == 0
    again = runner.invoke(
        app, ["contracts", "import", source, "--as", "lights", "--out", str(tmp_path)]
    )
    assert again.exit_code == 1 and "--force" in again.output
    # The same event types under another service name clash with the folder: nothing written.
    clash = runner.invoke(
        app,
        [
            "contracts",
            "import",
            source,
            "--as",
            "lights2",
            "--namespace",
            "imported.lights",
            "--out",
            str(tmp_path),
        ],
    )
    assert clash.exit_code == 1, clash.output
    assert "does not fit" in clash.output and "also declared" in clash.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lights.yaml"]
    bad = runner.invoke(app, ["contracts", "import", source, "--param", "nonsense"])
    assert bad.exit_code == 1 and "NAME=VALUE" in bad.output
