"""Rewrites one schema node into an equivalent, more explicit one before comparison (pure).

Every rewrite here keeps the set of valid instances exactly, so it is safe on either side of
a comparison:

- `allOf` members are merged into the node where the merge is exact (types intersected,
  `required` united, bounds tightened, enums intersected, properties and closed content
  combined); what cannot be merged exactly stays in `allOf`;
- `number` with an integral `multipleOf` is `integer`; `multipleOf` that every integer meets
  is dropped;
- implied bounds are folded in: string lengths from a `pattern`, `maxItems` from
  `prefixItems` + `items: false`, `minItems` from `contains`, `minProperties` from `required`,
  `maxProperties` from a closed model; `uniqueItems` on arrays of at most one item and
  `dependentRequired` on names already required are dropped;
- models are closed where `unevaluatedProperties` (with no applicator left beside it) or a
  finite `propertyNames` say so;
- `not` is folded: `not {type}` removes types, a `not` disjoint from the rest is dropped, a
  `not` on a required discriminator property narrows that property's values;
- `if`/`then`/`else` becomes `anyOf [if ∧ then, ¬if ∧ else]` (dropped or collapsed when the
  `if` can never or always match).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

from . import regex
from .schemalogic import ALL_TYPES, ANNOTATIONS, canon, disjoint, finite, num, same, types_of

Resolve = Callable[[Any], Any]
# valid(value, schema): True / False, or None when it cannot tell (then nothing is rewritten).
Valid = Callable[[Any, Any], bool | None]
APPLICATORS = ("allOf", "anyOf", "oneOf", "if", "then", "else", "not", "dependentSchemas", "$ref")
LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")
OBJECT_WORDS = ("properties", "patternProperties", "additionalProperties")
# Keywords that read each other: from two members they cannot simply sit side by side.
TOGETHER = (
    ("if", "then", "else"),
    ("prefixItems", "items", "unevaluatedItems"),
    ("contains", "minContains", "maxContains"),
)


def normalize(schema: Any, resolve: Resolve, valid: Valid, *, implied: bool = True) -> Any:
    """The node rewritten. `implied=False` skips adding implied keywords (bounds, closures):
    on the side payloads must fit into they add nothing but duplicate reports."""
    if not isinstance(schema, Mapping):
        return schema
    node: Any = dict(schema)
    node = _if_then_else(node, resolve, valid)
    if not isinstance(node, dict):
        return node
    node = _merge_all_of(node, resolve, valid)
    if not isinstance(node, dict):
        return node
    node = _if_then_else(node, resolve, valid)  # one may have come in with a member
    if not isinstance(node, dict):
        return node
    node = _not(node, resolve, valid)
    if not isinstance(node, dict):
        return node
    _numbers(node)
    _unevaluated(node)
    if implied:
        _strings(node)
    _arrays(node, implied)
    _objects(node, implied)
    if "type" in node and not types_of(node):
        return False
    return node


# -- allOf ---------------------------------------------------------------------------------
def _merge_all_of(node: dict[str, Any], resolve: Resolve, valid: Valid) -> Any:
    members = node.get("allOf")
    if not isinstance(members, list):
        return node
    acc: Any = {k: v for k, v in node.items() if k != "allOf"}
    kept: list[Any] = []
    for member in members:
        member = resolve(member)
        if member is False:
            return False
        merged = intersect(acc, member) if not kept else None
        if merged is None:
            kept.append(member)
        else:
            acc = merged
            if acc is False:
                return False
    if kept:
        acc["allOf"] = kept
    return acc


def intersect(a: Any, b: Any) -> Any:
    """One schema exactly equal to allOf(a, b), or None where that is not known."""
    if b is True or b == {}:
        return a
    if a is True or a == {}:
        return dict(b) if isinstance(b, Mapping) else b
    if a is False or b is False:
        return False
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return None
    # `a` is the node being built: its own unevaluated* see whatever gets merged into it;
    # a member's unevaluated* only saw that member, so it cannot be merged.
    if "$ref" in a or any(k in b for k in ("$ref", "unevaluatedProperties", "unevaluatedItems")):
        return None
    for group in TOGETHER:
        if (
            any(w in a for w in group)
            and any(w in b for w in group)
            and any(canon(a.get(w)) != canon(b.get(w)) for w in group)
        ):
            return None
    out = dict(a)
    if any(w in a for w in OBJECT_WORDS) or any(w in b for w in OBJECT_WORDS):
        objects = _intersect_objects(a, b)
        if objects is None:
            return None
        for word in OBJECT_WORDS:
            out.pop(word, None)
        out.update(objects)
    for key, value in b.items():
        if key in OBJECT_WORDS or (key in ("const", "enum") and ("const" in a or "enum" in a)):
            continue  # enum and const: intersected below
        if key not in out or canon(out[key]) == canon(value) or key in ANNOTATIONS:
            out.setdefault(key, value)
            continue
        mine = out[key]
        if key == "type":
            common = types_of(a) & types_of(b)
            if "number" in common:
                common = common - {"integer"}
            if not common:
                return False
            out[key] = sorted(common) if len(common) != 1 else next(iter(common))
        elif key == "required":
            out[key] = sorted(set(mine) | set(value))
        elif key in LOWER:
            out[key] = max(mine, value)
        elif key in UPPER:
            out[key] = min(mine, value)
        elif key == "uniqueItems":
            out[key] = bool(mine) or bool(value)
        elif key == "dependentRequired":
            deps = {k: list(v) for k, v in mine.items()}
            for name, names in value.items():
                deps[name] = sorted(set(deps.get(name, [])) | set(names))
            out[key] = deps
        elif key == "multipleOf":
            x, y = num(mine), num(value)
            if not x or not y:
                return None
            if (x / y).denominator == 1:
                out[key] = mine
            elif (y / x).denominator == 1:
                out[key] = value
            else:
                return None
        else:
            return None
    if ("const" in a or "enum" in a) and ("const" in b or "enum" in b):
        fa, fb = finite(a), finite(b)
        if fa is None or fb is None:
            return None
        values = [v for v in fa if any(same(v, w) for w in fb)]
        if not values:
            return False
        out.pop("const", None)
        out["enum"] = values
    return out


def _intersect_objects(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any] | None:
    pa, pb = a.get("patternProperties"), b.get("patternProperties")
    if (pa or pb) and canon(pa) != canon(pb):
        return None
    add_a, add_b = a.get("additionalProperties", True), b.get("additionalProperties", True)
    props_a, props_b = a.get("properties") or {}, b.get("properties") or {}
    out: dict[str, Any] = {}
    if pa:
        out["patternProperties"] = pa
    if props_a or props_b:
        props: dict[str, Any] = {}
        for name in [*props_a, *(n for n in props_b if n not in props_a)]:
            in_pattern = isinstance(pa, Mapping) and regex_matches_any(name, pa)
            x = props_a.get(name, True if in_pattern else add_a)
            y = props_b.get(name, True if in_pattern else add_b)
            props[name] = both(x, y)
        out["properties"] = props
    if "additionalProperties" in a or "additionalProperties" in b:
        out["additionalProperties"] = both(add_a, add_b)
    return out


def both(x: Any, y: Any) -> Any:
    if x is True or x == {} or canon(x) == canon(y):
        return y
    if y is True or y == {}:
        return x
    if x is False or y is False:
        return False
    if isinstance(x, Mapping) and isinstance(y, Mapping) and "allOf" not in x and "allOf" not in y:
        merged = intersect(x, y)
        if merged is not None:
            return merged
    return {"allOf": [x, y]}


def regex_matches_any(name: str, patterns: Mapping[str, Any]) -> bool:
    from .schemalogic import matches

    return matches(name, patterns)


# -- if / then / else, not -----------------------------------------------------------------
def _if_then_else(node: dict[str, Any], resolve: Resolve, valid: Valid) -> Any:
    if "if" not in node:
        node.pop("then", None)
        node.pop("else", None)
        return node
    cond = resolve(node.pop("if"))
    then, other = resolve(node.pop("then", True)), resolve(node.pop("else", True))
    if then in (True, {}) and other in (True, {}):
        return node
    if cond is True or cond == {}:
        return _with(node, then)
    if cond is False or disjoint(_plain(node), cond, valid):
        return _with(node, other)
    branches = [both(cond, then), both({"not": cond}, other)]
    if "anyOf" in node:
        return {**node, "allOf": [*node.get("allOf", []), {"anyOf": branches}]}
    return {**node, "anyOf": branches}


def _with(node: dict[str, Any], extra: Any) -> Any:
    if extra is True or extra == {}:
        return node
    if extra is False:
        return False
    return {**node, "allOf": [*node.get("allOf", []), extra]}


def _plain(node: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in APPLICATORS}


def _not(node: dict[str, Any], resolve: Resolve, valid: Valid) -> Any:
    if "not" not in node:
        return node
    excluded = resolve(node["not"])
    rest = {k: v for k, v in node.items() if k != "not"}
    if excluded is False:
        return rest
    if excluded is True or excluded == {}:
        return False
    if not isinstance(excluded, Mapping):
        return node
    body = {k: v for k, v in excluded.items() if k not in ANNOTATIONS}
    if set(body) == {"type"}:
        gone = types_of(body)
        left = types_of(rest) - gone
        if "integer" in gone and "number" not in gone and "number" in types_of(rest):
            return node  # "numbers that are not integers" has no type of its own
        if not left:
            return False
        if "number" in left:
            left = left - {"integer"}
        rest["type"] = sorted(left) if len(left) != 1 else next(iter(left))
        return rest
    values = finite(rest)
    if values is not None:
        verdicts = [valid(v, excluded) for v in values]
        if None in verdicts:
            return node
        kept = [v for v, inside in zip(values, verdicts, strict=True) if not inside]
        if not kept:
            return False
        rest.pop("const", None)
        rest["enum"] = kept
        return rest
    if disjoint(_plain(rest), excluded, valid):
        return rest
    # not {properties: {k: X}} on objects that always carry k: k's value is not X.
    props = body.get("properties")
    if (
        isinstance(props, Mapping)
        and len(props) == 1
        and set(body) <= {"properties", "required", "type"}
        and types_of(rest) == {"object"}
        and types_of(body) >= {"object"}
        and set(body.get("required", [])) <= set(props)
    ):
        ((name, inner),) = props.items()
        declared = rest.get("properties") or {}
        if name not in declared and rest.get("patternProperties"):
            return node
        # An undeclared name falls under additionalProperties: keep that constraint with it.
        mine = resolve(declared.get(name, rest.get("additionalProperties", True)))
        if name in rest.get("required", []) and (mine is True or isinstance(mine, Mapping)):
            base = {} if mine is True else dict(mine)
            if "not" not in base:
                narrowed = _not({**base, "not": inner}, resolve, valid)
                rest["properties"] = {**(rest.get("properties") or {}), name: narrowed}
                return rest
    return node


# -- implied bounds ------------------------------------------------------------------------
def _numbers(node: dict[str, Any]) -> None:
    step = num(node.get("multipleOf"))
    if step is None or step <= 0:
        return
    types = types_of(node)
    if "type" in node and "number" in types and step.denominator == 1:
        kept = sorted((types - {"number"}) | {"integer"})
        node["type"] = kept if len(kept) != 1 else kept[0]
        types = types_of(node)
    if "type" in node and "number" not in types and (Fraction(1) / step).denominator == 1:
        del node["multipleOf"]  # every integer is a multiple of 1/n


def _strings(node: dict[str, Any]) -> None:
    pattern = node.get("pattern")
    if not isinstance(pattern, str):
        return
    try:
        low, high = regex.lengths(pattern)
    except regex.Unsupported:
        return
    if low > node.get("minLength", 0):
        node["minLength"] = low
    if high is not None and high < node.get("maxLength", high + 1):
        node["maxLength"] = high


def _arrays(node: dict[str, Any], implied: bool) -> None:
    if node.get("uniqueItems") is True and node.get("maxItems", 2) <= 1:
        del node["uniqueItems"]
    if not implied:
        return
    prefix = node.get("prefixItems")
    limit: int | None = None
    if isinstance(prefix, list):
        if node.get("items") is False:
            limit = len(prefix)
        for i, item in enumerate(prefix):
            if item is False:
                limit = i if limit is None else min(limit, i)
                break
    if limit is not None and limit < node.get("maxItems", limit + 1):
        node["maxItems"] = limit
    contains = node.get("contains")
    if contains is not None and contains is not False:
        least = node.get("minContains", 1)
        if isinstance(least, int) and least > node.get("minItems", 0):
            node["minItems"] = least
    if node.get("uniqueItems") is True and node.get("maxItems", 2) <= 1:
        del node["uniqueItems"]


def _objects(node: dict[str, Any], implied: bool) -> None:
    required = [r for r in node.get("required", []) if isinstance(r, str)]
    props = node.get("properties") or {}
    _dependent_required(node, required, props)
    if not implied:
        return
    names = node.get("propertyNames")
    finite_names = finite(names) if isinstance(names, Mapping) else None
    if (
        finite_names is not None
        and all(isinstance(n, str) for n in finite_names)
        and not node.get("patternProperties")
    ):
        extra = node.get("additionalProperties", True)
        closed = {n: props.get(n, extra) for n in finite_names}
        closed.update({n: False for n in props if n not in closed})
        node["properties"] = closed
        node["additionalProperties"] = False
        props = closed
    if len(set(required)) > node.get("minProperties", 0):
        node["minProperties"] = len(set(required))
    if node.get("additionalProperties") is False and not node.get("patternProperties"):
        count = sum(1 for v in props.values() if v is not False)
        if count < node.get("maxProperties", count + 1):
            node["maxProperties"] = count


def _dependent_required(
    node: dict[str, Any], required: list[str], props: Mapping[str, Any]
) -> None:
    deps = node.get("dependentRequired")
    if isinstance(deps, Mapping):
        kept = {
            name: names
            for name, names in deps.items()
            if not set(names) <= set(required) and props.get(name, True) is not False
        }
        if kept:
            node["dependentRequired"] = kept
        else:
            del node["dependentRequired"]


def _unevaluated(node: dict[str, Any]) -> None:
    if any(word in node for word in APPLICATORS):
        return
    if "unevaluatedProperties" in node:
        rest = node.pop("unevaluatedProperties")
        node.setdefault("additionalProperties", rest)
    if "unevaluatedItems" in node and "contains" not in node:
        rest = node.pop("unevaluatedItems")
        node.setdefault("items", rest)


__all__ = ["ALL_TYPES", "intersect", "normalize"]
