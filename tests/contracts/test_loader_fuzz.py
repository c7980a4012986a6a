"""Mutated example documents: the loader either loads them or raises ContractError, never
anything else (a crash in the defensive code would surface here)."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from bizevents.contracts import load_contract_texts
from bizevents.errors import ContractError

from .helpers import EXAMPLE

pytestmark = pytest.mark.timeout(120)

REPLACEMENTS: list[Any] = [
    None,
    0,
    -1,
    2.5,
    True,
    "",
    "x",
    [],
    [1, "a"],
    {},
    {"$ref": "#/nope"},
    {"$ref": "#"},
    {"type": "object"},
    "#/components",
]


def nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found += nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += nodes(v, (*path, i))
    return found


def mutate(doc: Any, rng: random.Random) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in nodes(doc) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.3:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return doc


def test_mutated_documents_never_crash_the_loader() -> None:
    rng = random.Random(20261128)
    texts = {p.name: p.read_text() for p in EXAMPLE.glob("*.yaml")}
    parsed = {name: yaml.safe_load(text) for name, text in texts.items()}
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(60):
        name = rng.choice(sorted(parsed))
        files = dict(texts)
        files[name] = yaml.safe_dump(mutate(parsed[name], rng))
        try:
            load_contract_texts(files)
            outcomes["loaded"] += 1
        except ContractError as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 20, outcomes


def test_example_unchanged_loads(tmp_path: Path) -> None:
    texts = {p.name: p.read_text() for p in EXAMPLE.glob("*.yaml")}
    assert len(load_contract_texts(texts)) == 7
