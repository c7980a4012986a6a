"""AsyncAPI 3.0 structure: validation against the official JSON Schema shipped as package data
(see schemas/NOTICE.md). Pure: takes the parsed document, returns problems."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from ..errors import Problem
from .refs import join
from .wording import explain

ASYNCAPI_VERSION = "3.0.0"
MAX_STRUCTURE_PROBLEMS = 50


@cache
def _validator() -> Draft7Validator:
    text = resources.files(__package__).joinpath("schemas/asyncapi-3.0.0.json").read_text("utf-8")
    return Draft7Validator(json.loads(text))


def _pointer(error: ValidationError) -> str:
    return join("", *error.absolute_path)


def _is_reference_branch(errors: list[ValidationError]) -> bool:
    return any(e.validator == "required" and "'$ref'" in e.message for e in errors)


def _causes(error: ValidationError, depth: int = 0) -> list[ValidationError]:
    """The AsyncAPI schema is full of oneOf(Reference, Object): the top error only says "not
    valid under any of the given schemas". Pick the branch the author evidently meant (not the
    Reference one unless they wrote $ref; else the one that got deepest) and report its causes."""
    if not error.context or depth > 20:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    candidates = list(branches.values())
    instance = error.instance
    if isinstance(instance, dict) and "$ref" not in instance:
        candidates = [b for b in candidates if not _is_reference_branch(b)] or candidates
    # Prefer branches that failed deep inside the instance (the author's intent), then fewer errors.
    chosen = max(
        candidates,
        key=lambda b: (max(len(e.absolute_path) for e in b), -len(b)),
    )
    return [cause for sub in chosen for cause in _causes(sub, depth + 1)]


def structure_problems(document: Any, file: str) -> list[Problem]:
    """Every place where `document` breaks the AsyncAPI 3.0.0 schema (at most a bounded number)."""
    if not isinstance(document, dict):
        return [Problem("an AsyncAPI document must be a mapping", file=file, rule="asyncapi")]
    version = document.get("asyncapi")
    if version != ASYNCAPI_VERSION:
        return [
            Problem(
                f"asyncapi version must be {ASYNCAPI_VERSION!r}, got {version!r}",
                pointer="/asyncapi",
                file=file,
                rule="asyncapi-version",
            )
        ]
    problems: dict[tuple[str, str], Problem] = {}
    for error in _validator().iter_errors(document):
        for cause in _causes(error):
            message, pointer = explain(cause)
            key = (pointer, message)
            if key not in problems:
                problems[key] = Problem(message, pointer=pointer, file=file, rule="asyncapi")
        if len(problems) >= MAX_STRUCTURE_PROBLEMS:
            break
    return sorted(problems.values(), key=lambda p: p.pointer)
