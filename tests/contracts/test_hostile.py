"""Hostile contract files get a clear error, never a hang or a crash (each test has a timeout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizevents.contracts import Limits, load_contracts
from bizevents.errors import ContractError, Problem

from .helpers import document, thing_channel, write

pytestmark = pytest.mark.timeout(30)


def problems_of(path: Path, limits: Limits | None = None) -> list[Problem]:
    with pytest.raises(ContractError) as info:
        load_contracts(path, limits=limits)
    return info.value.problems


def test_yaml_alias_bomb(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append("asyncapi: *a9")
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    (problem,) = problems_of(tmp_path)
    assert problem.rule == "yaml-size" and "alias bomb" in problem.message
    assert problem.file == "bomb.yaml"


def test_deep_nesting_block_and_flow(tmp_path: Path) -> None:
    write(tmp_path, "flow.yaml", "asyncapi: " + "[" * 100_000 + "]" * 100_000 + "\n")
    block = "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + f"{'  ' * 200}v: 1\n"
    write(tmp_path, "block.yaml", block)
    problems = problems_of(tmp_path)
    assert {(p.file, p.rule) for p in problems} == {
        ("flow.yaml", "yaml-depth"),
        ("block.yaml", "yaml-depth"),
    }
    assert all("deeper than 64" in p.message for p in problems)


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as fh:
        fh.write(b"asyncapi: 3.0.0\ndescription: '")
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MiB
    (problem,) = problems_of(tmp_path)
    assert problem.rule == "file-size" and "1048576 bytes" in problem.message


def test_many_nodes_within_the_size_limit(tmp_path: Path) -> None:
    write(tmp_path, "wide.yaml", "asyncapi: [" + "1," * 5_000 + "1]\n")
    (problem,) = problems_of(tmp_path, Limits(max_nodes=1_000))
    assert problem.rule == "yaml-size"


def test_recursive_ref_in_payload(tmp_path: Path) -> None:
    channel = thing_channel()
    channel["payload"] = {"$ref": "#/components/schemas/Node"}
    del channel["x-bizevents-key"]
    doc = document(events={"c": channel})
    doc["components"] = {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {"child": {"$ref": "#/components/schemas/Node"}},
            }
        }
    }
    write(tmp_path, "things.yaml", doc)
    problems = problems_of(tmp_path)
    cycle = [p for p in problems if p.rule == "ref-cycle"]
    assert cycle and "recursive $ref" in cycle[0].message
    assert "#/components/schemas/Node -> " in cycle[0].message


def test_ref_loop_between_files_and_ref_chain_to_itself(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", {"A": {"$ref": "b.yaml#/B"}})
    write(tmp_path, "b.yaml", {"B": {"$ref": "a.yaml#/A"}})
    channel = thing_channel()
    channel["payload"]["properties"]["size"] = {"$ref": "a.yaml#/A"}
    doc = document(events={"c": channel})
    doc["channels"]["d"] = {"$ref": "#/channels/d"}  # a channel that is a ref to itself
    write(tmp_path, "things.yaml", doc)
    problems = problems_of(tmp_path)
    messages = [p.message for p in problems]
    assert any("recursive $ref" in m and "a.yaml" in m and "b.yaml" in m for m in messages)
    assert any(p.pointer == "/channels/d" and "recursive $ref" in p.message for p in problems)


def test_ref_bomb_is_stopped_by_the_node_budget(tmp_path: Path) -> None:
    schemas = {"L0": {"type": "string"}}
    for i in range(1, 25):
        schemas[f"L{i}"] = {
            "type": "object",
            "properties": {
                "a": {"$ref": f"#/components/schemas/L{i - 1}"},
                "b": {"$ref": f"#/components/schemas/L{i - 1}"},
            },
        }
    channel = thing_channel()
    channel["payload"]["properties"]["size"] = {"$ref": "#/components/schemas/L24"}
    doc = document(events={"c": channel})
    doc["components"] = {"schemas": schemas}
    write(tmp_path, "things.yaml", doc)
    problems = problems_of(tmp_path)
    assert any(p.rule == "ref-size" and "ref bomb" in p.message for p in problems)


def test_binary_garbage_and_python_tags(tmp_path: Path) -> None:
    (tmp_path / "garbage.yaml").write_bytes(b"\xff\xfe\x00\x01" * 100)
    write(tmp_path, "tag.yaml", "asyncapi: !!python/object/apply:os.system ['echo pwned']\n")
    problems = problems_of(tmp_path)
    assert {p.file: p.rule for p in problems} == {
        "garbage.yaml": "encoding",
        "tag.yaml": "yaml-syntax",
    }


def test_hostile_payload_is_bounded(tmp_path: Path) -> None:
    write(tmp_path, "things.yaml", document())
    contract = load_contracts(tmp_path).get("com.acme.things.ThingHappened.v1")
    payload = {"id": 1, "size": -1, **{f"x{i}": i for i in range(10_000)}}
    with pytest.raises(Exception) as info:
        contract.validate(payload)
    assert len(info.value.problems) == 2  # type: ignore[attr-defined]


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    write(tmp_path / "contracts", "things.yaml", document())
    (tmp_path / "contracts" / "leak.yaml").symlink_to(secret)
    (problem,) = problems_of(tmp_path / "contracts")
    assert problem.file == "leak.yaml" and "outside the contracts folder" in problem.message
    assert "hunter2" not in str(problem)
