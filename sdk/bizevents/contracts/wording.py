"""Lint messages people can act on (pure): the JSON Schema validators' wording ("'bogus' does not
match any of the regexes: '^x-[\\w\\d\\.\\x2d_]+$'") becomes what is wrong, the value found, and a
"did you mean" when a close name exists."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from jsonschema.exceptions import ValidationError

from .refs import join

MAX_SHOWN = 60


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close match, else ''."""
    close = difflib.get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: Any) -> str:
    """A value as the author wrote it, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _type_names(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(str(n) for n in names)


def explain(error: ValidationError) -> tuple[str, str]:
    """(message, pointer) for one validation error of a document or schema."""
    pointer = join("", *error.absolute_path) or "/"
    validator, instance, expected = error.validator, error.instance, error.validator_value
    schema = error.schema if isinstance(error.schema, dict) else {}
    if validator in ("additionalProperties", "unevaluatedProperties") and isinstance(
        instance, dict
    ):
        allowed = set(schema.get("properties", {}))
        patterns = schema.get("patternProperties", {})
        extra = [
            k for k in instance if k not in allowed and not any(_matches(p, k) for p in patterns)
        ]
        if extra:
            key = extra[0]
            hint = did_you_mean(key, allowed)
            ext = " (extensions start with x-)" if any("x-" in p for p in patterns) else ""
            more = f"; also {', '.join(map(repr, extra[1:4]))}" if len(extra) > 1 else ""
            where = join(pointer if pointer != "/" else "", key)
            return f"unknown key {key!r}{hint or ext}{more}", where
    if validator == "enum":
        choices = [str(c) for c in expected] if isinstance(expected, list) else [str(expected)]
        hint = did_you_mean(str(instance), choices)
        return (
            f"{shown(instance)} is not allowed here{hint}; expected one of {', '.join(choices)}",
            pointer,
        )
    if validator == "const":
        return f"expected {expected!r}, found {shown(instance)}", pointer
    if validator == "type":
        return f"expected {_type_names(expected)}, found {shown(instance)}", pointer
    if validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else error.message
        return f"{missing!r} is required here", pointer
    if validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{shown(instance)} breaks {validator} {expected}", pointer
    if validator == "pattern":
        return f"{shown(instance)} does not have the expected form", pointer
    if validator == "format":
        return f"{shown(instance)} is not a valid {expected}", pointer
    message = error.message
    return (message if len(message) <= 200 else message[:197] + "..."), pointer


def _matches(pattern: str, key: str) -> bool:
    import re

    try:
        return re.search(pattern, key) is not None
    except re.error:
        return False
