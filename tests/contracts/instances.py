"""Payloads for instance-level checks of compatibility verdicts.

`accepts(schema)` is the project's own acceptance test of a payload (the Rust validator's fast
path, else the Python reference validator, as `EventContract.validate` does). `payloads(schema)`
is a hypothesis strategy guided by a schema: it aims at the schema's valid payloads and at their
edges (bounds, patterns via `from_regex`, enum values, property names, non-ASCII digits and
letters, trailing newlines), then mixes in arbitrary JSON; callers filter with `accepts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

MAX_DEPTH = 4
ODD_TEXT = [
    "",
    "a",
    "A",
    "é",
    "\u0661",
    "\u0663",
    "\n",
    "a\n",
    "ABC\n",
    "-",
    "_",
    "x-1",
    "0",
    "9",
    " ",
]


def accepts(schema: Any) -> Callable[[Any], bool]:
    """True when the project accepts the payload under `schema` (either validator)."""
    slow = Draft202012Validator(schema, format_checker=FormatChecker())
    try:
        fast = jsonschema_rs.validator_for(schema, validate_formats=True)
    except Exception:
        fast = None

    def check(value: Any) -> bool:
        if fast is not None and fast.is_valid(value):
            return True
        return bool(slow.is_valid(value))

    return check


def literals(schema: Any) -> tuple[list[str], list[Any]]:
    """Every string and every scalar mentioned in a schema (names, consts, enum values)."""
    names: list[str] = []
    values: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key in ("properties", "patternProperties", "dependentRequired"):
                    names.extend(str(k) for k in value)
                if key == "required" and isinstance(value, list):
                    names.extend(str(k) for k in value)
                if key == "const":
                    values.append(value)
                if key == "enum" and isinstance(value, list):
                    values.extend(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return sorted(set(names)), values


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(-5, 200, allow_nan=False, allow_infinity=False),
    st.sampled_from(ODD_TEXT),
    st.text(max_size=6),
)
any_json = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=10,
)


def payloads(schema: Any, valid: Callable[[Any], bool] | None = None) -> st.SearchStrategy[Any]:
    """Candidate payloads for `schema`: guided ones, and arbitrary JSON with its literals."""
    names, values = literals(schema)
    name_st = st.sampled_from(names) if names else st.text(max_size=3)
    scalars = st.sampled_from(values) if values else json_scalars
    generic = st.recursive(
        json_scalars | scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(name_st, inner, max_size=5),
        max_leaves=12,
    )
    root = schema if isinstance(schema, Mapping) else {}
    aimed = guided(schema, root, 0)
    if valid is not None:
        aimed = aimed.filter(valid)
    # A batch per example: hypothesis spends few examples on each of many cases.
    return st.lists(st.one_of(aimed, aimed, aimed, generic, any_json), min_size=3, max_size=8)


def guided(schema: Any, root: Mapping[str, Any], depth: int) -> st.SearchStrategy[Any]:
    if schema is False:
        return st.nothing()
    if schema is True or not isinstance(schema, Mapping) or depth > MAX_DEPTH:
        return any_json
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for token in schema["$ref"][2:].split("/"):
            target = target.get(token, {}) if isinstance(target, Mapping) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return guided({**target, **rest} if isinstance(target, Mapping) else target, root, depth)
    if "const" in schema:
        return st.just(schema["const"])
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return st.sampled_from(schema["enum"])
    if isinstance(schema.get("allOf"), list):
        merged = {k: v for k, v in schema.items() if k != "allOf"}
        for member in schema["allOf"]:
            merged = combine(merged, resolve(member, root))
        return guided(merged, root, depth + 1)
    base = {
        k: v for k, v in schema.items() if k not in ("anyOf", "oneOf", "if", "then", "else", "not")
    }
    for word in ("anyOf", "oneOf"):
        if isinstance(schema.get(word), list) and schema[word]:
            branches = [resolve(b, root) for b in schema[word]]
            return st.one_of([guided(combine(base, b), root, depth + 1) for b in branches])
    if "if" in schema and ("then" in schema or "else" in schema):
        cond = resolve(schema["if"], root)
        options = [guided(base, root, depth + 1)]
        for branch in (combine(cond, resolve(schema.get("then", {}), root)),
                       resolve(schema.get("else", {}), root)):  # fmt: skip
            options.append(guided(combine(base, branch), root, depth + 1))
        return st.one_of(options)
    raw = schema.get("type")
    types = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    if not types:
        types = [t for t in ("object", "array", "string", "integer") if _suits(schema, t)]
        types = types or ["null", "boolean", "string", "integer", "object", "array"]
    return st.one_of([_typed(schema, t, root, depth) for t in types])


def resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(schema, Mapping) and str(schema.get("$ref", "")).startswith("#/"):
        target: Any = root
        for token in schema["$ref"][2:].split("/"):
            target = target.get(token, {}) if isinstance(target, Mapping) else {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return combine(resolve(target, root), rest)
    return schema if isinstance(schema, Mapping) else {}


def combine(a: Mapping[str, Any], b: Any) -> dict[str, Any]:
    """Roughly both schemas at once (candidates are filtered by the validator anyway)."""
    out = dict(a)
    if not isinstance(b, Mapping):
        return out
    for key, value in b.items():
        if key == "properties" and isinstance(out.get(key), Mapping):
            props = dict(out[key])
            for name, sub in value.items():
                old = props.get(name)
                props[name] = {**old, **sub} if isinstance(old, Mapping) and isinstance(
                    sub, Mapping) else sub  # fmt: skip
            out[key] = props
        elif key == "required" and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out


def _suits(schema: Mapping[str, Any], kind: str) -> bool:
    words = {
        "object": ("properties", "required", "additionalProperties", "propertyNames"),
        "array": ("items", "prefixItems", "contains", "minItems", "maxItems"),
        "string": ("pattern", "minLength", "maxLength", "format"),
        "integer": ("minimum", "maximum", "multipleOf", "exclusiveMinimum"),
    }[kind]
    return any(w in schema for w in words)


def _typed(schema: Mapping[str, Any], kind: str, root: Mapping[str, Any], depth: int) -> Any:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        return _numbers(schema, kind)
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        return _arrays(schema, root, depth)
    return _objects(schema, root, depth)


def _numbers(schema: Mapping[str, Any], kind: str) -> st.SearchStrategy[Any]:
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    lo_i = int(lo) - 1 if isinstance(lo, int | float) else -50
    hi_i = int(hi) + 1 if isinstance(hi, int | float) else 150
    lo_i, hi_i = min(lo_i, hi_i), max(lo_i, hi_i)
    ints = st.integers(lo_i, hi_i)
    step = schema.get("multipleOf")
    if isinstance(step, int | float) and step > 0:
        ints = st.integers(lo_i, hi_i).map(lambda n: n * step)
    if kind == "integer":
        return ints | ints.map(float)
    return ints | st.floats(lo_i, hi_i, allow_nan=False, allow_infinity=False)


def _strings(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    lo = int(schema.get("minLength", 0))
    hi = int(schema.get("maxLength", lo + 8))
    options: list[st.SearchStrategy[Any]] = [
        st.text(min_size=lo, max_size=max(lo, hi)),
        st.text(alphabet="ABCDEUSRxyz019-_é١\n", min_size=lo, max_size=max(lo, min(hi, 12))),
        st.sampled_from(ODD_TEXT),
    ]
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
            options.insert(0, st.from_regex(pattern))
            options.insert(0, st.from_regex(pattern, fullmatch=True))
        except re.error:
            pass
    return st.one_of(options)


def _arrays(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    prefix = [guided(p, root, depth + 1) for p in schema.get("prefixItems") or []]
    items = schema.get("items", True)
    rest = guided(items, root, depth + 1) if items is not False else st.nothing()
    lo = int(schema.get("minItems", 0))
    hi = int(schema.get("maxItems", max(lo, len(prefix)) + 3))
    contains = schema.get("contains")
    contains_st = guided(contains, root, depth + 1) if contains is not None else None
    if contains is not None:  # room for minContains matches
        lo = max(lo, int(schema.get("minContains", 1)))
        hi = max(hi, lo)

    @st.composite
    def build(draw: st.DrawFn) -> list[Any]:
        size = draw(st.integers(lo, max(lo, hi)))
        out: list[Any] = []
        for i in range(size):
            if i < len(prefix):
                out.append(draw(prefix[i]))
            elif items is False:
                break
            else:
                out.append(draw(rest))
        if contains_st is not None and out and draw(st.booleans()):
            for i in range(draw(st.integers(1, len(out)))):
                out[i] = draw(contains_st)
        if schema.get("uniqueItems") and draw(st.booleans()):
            unique: list[Any] = []
            for value in out:
                if value not in unique:
                    unique.append(value)
            out = unique
        return out

    return build()


def _objects(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    props = schema.get("properties") or {}
    required = [r for r in schema.get("required") or [] if isinstance(r, str)]
    extra_schema = schema.get("additionalProperties", True)
    patterns = [p for p in (schema.get("patternProperties") or {}) if isinstance(p, str)]
    names = schema.get("propertyNames")
    extra_names: list[st.SearchStrategy[str]] = [st.sampled_from(["x", "zz", "A", "x-1"])]
    for pattern in patterns:
        extra_names.append(st.from_regex(pattern, fullmatch=True))
    if isinstance(names, Mapping) and isinstance(names.get("pattern"), str):
        extra_names.append(st.from_regex(names["pattern"], fullmatch=True))
    if isinstance(names, Mapping) and isinstance(names.get("enum"), list):
        extra_names.append(st.sampled_from([n for n in names["enum"] if isinstance(n, str)]))

    values = {name: guided(sub, root, depth + 1) for name, sub in props.items()}
    by_pattern = {
        p: guided(sub, root, depth + 1)
        for p, sub in (schema.get("patternProperties") or {}).items()
    }
    extra_values = guided(extra_schema, root, depth + 1)
    names_st = st.one_of(extra_names)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in props:
            if name in required or draw(st.booleans()):
                out[name] = draw(values[name])
        for name in required:
            if name not in out:
                out[name] = draw(any_json)
        closed = extra_schema is False and not by_pattern
        for _ in range(draw(st.integers(0, 1 if closed else 2)) if not closed or draw(
                st.integers(0, 3)) == 0 else 0):  # fmt: skip
            name = draw(names_st)
            matched = [p for p in by_pattern if re.search(p, name)]
            value = values.get(name, by_pattern[matched[0]] if matched else extra_values)
            out[name] = draw(value)
        return out

    return build()
