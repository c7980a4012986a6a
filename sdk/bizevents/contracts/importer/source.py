"""Reading a third-party AsyncAPI document and the files its `$ref`s name (bounded, local only).

Refs may reach any file under `root` (by default the document's own folder; multi-file
documents such as `service/asyncapi.yaml` -> `../common/messages.yaml` need a wider root).
Remote refs (http, https) are refused: an import must not fetch from the network.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote

from ...errors import ContractError, Problem
from ..refs import RefError, Resolver
from ..yamlsafe import Limits, parse_yaml, read_text

MAX_FILES = 200
_SUFFIXES = (".yaml", ".yml", ".json")


class _ImportResolver(Resolver):
    def target_file(self, file: str, ref_path: str) -> str:
        if "://" in ref_path or ref_path.startswith("//"):
            raise RefError(
                f"remote $ref {ref_path!r} is not followed (an import reads local files)"
            )
        base = (self.root / file).parent
        target = (base / unquote(ref_path)).resolve()
        root = self.root.resolve()
        if not target.is_relative_to(root):
            raise RefError(
                f"$ref {ref_path!r} points outside {root} (--refs-root allows a wider folder)"
            )
        return target.relative_to(root).as_posix()


class Source:
    """The document (`file`, relative to `root`) and a resolver over its folder tree."""

    def __init__(self, path: Path, root: Path | None = None, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        path = path.resolve()
        self.root = (root or path.parent).resolve()
        if not path.is_file():
            raise ContractError(
                f"cannot import {path}", [Problem("no such file", file=str(path), rule="io")]
            )
        if not path.is_relative_to(self.root):
            raise ContractError(
                f"cannot import {path}",
                [Problem(f"the document is not inside --refs-root {self.root}", rule="io")],
            )
        self.file = path.relative_to(self.root).as_posix()
        self.problems: list[Problem] = []
        self.resolver = _ImportResolver(self.root, {}, self._load, self.limits.max_nodes)
        self.document = self._parse(self.file)
        if self.problems:
            raise ContractError(f"cannot import {self.file}", self.problems)
        self.resolver.documents[self.file] = self.document

    def _parse(self, name: str) -> Any:
        text, problem = read_text(self.root / name, name, self.limits)
        if problem is not None or text is None:
            self.problems.append(problem or Problem("unreadable", file=name, rule="io"))
            return None
        data, problems = parse_yaml(text, name, self.limits, yaml12=True)
        self.problems.extend(problems)
        return data

    def _load(self, name: str) -> Any:
        if PurePosixPath(name).suffix not in _SUFFIXES:
            raise RefError(f"$ref to {name!r}: only .yaml, .yml and .json files can be referenced")
        if len(self.resolver.documents) >= MAX_FILES:
            raise RefError(f"$ref to {name!r}: more than {MAX_FILES} files referenced")
        before = len(self.problems)
        data = self._parse(name)
        if len(self.problems) > before:
            problems = "; ".join(p.message for p in self.problems[before:])
            del self.problems[before:]
            raise RefError(f"$ref to {name!r}: {problems}")
        return data

    def inline(self, file: str, pointer: str, value: Any) -> tuple[Any, list[Problem]]:
        """`value` with every ref inlined, and the problems met doing it (not kept globally)."""
        before = len(self.resolver.problems)
        result = self.resolver.inline(file, pointer, value)
        problems = self.resolver.problems[before:]
        del self.resolver.problems[before:]
        return result, problems

    def follow(self, file: str, pointer: str, value: Any) -> tuple[str, str, Any]:
        """Follow pure `{"$ref"}` objects; raises RefError."""
        return self.resolver.follow(file, pointer, value)
