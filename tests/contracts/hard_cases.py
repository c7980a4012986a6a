"""Hard, realistic schema changes, with the truth about each direction.

Each case says whether BACKWARD (every payload the old schema accepts, the new one accepts) and
FORWARD (the reverse) hold. A direction that does not hold carries a witness: a payload the one
side accepts and the other refuses. Directions that hold are backed by hypothesis payloads drawn
from one side and validated against the other (test_compat_hard.py). Classes: `regex` (pattern
inclusion), `equivalent` (the same language written differently), `implied` (a constraint the
rest of the schema already implies), `breaking` (near misses of the three, to keep the checker
honest).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

S: dict[str, Any] = {"type": "string"}
I: dict[str, Any] = {"type": "integer"}  # noqa: E741
NONE = object()  # no witness: the direction holds


@dataclass(frozen=True)
class Hard:
    id: str
    kind: str  # regex | equivalent | implied | breaking
    old: Any
    new: Any
    backward: Any = NONE  # witness old accepts, new refuses; NONE when BACKWARD holds
    forward: Any = NONE  # witness new accepts, old refuses; NONE when FORWARD holds

    @property
    def backward_ok(self) -> bool:
        return self.backward is NONE

    @property
    def forward_ok(self) -> bool:
        return self.forward is NONE


def field(schema: Any, name: str = "v", **extra: Any) -> dict[str, Any]:
    """An event payload whose (required) property `name` has `schema`."""
    return {
        "type": "object",
        "required": ["id", name],
        "properties": {"id": S, name: schema},
        **extra,
    }


def pat(pattern: str, **extra: Any) -> dict[str, Any]:
    return field({"type": "string", "pattern": pattern, **extra})


def ev(value: Any, name: str = "v") -> dict[str, Any]:
    return {"id": "e1", name: value}


CLOSED_PROPS = {"id": S, "n": I}
OPEN = {"type": "object", "required": ["id"], "properties": CLOSED_PROPS}
CLOSED = {
    "type": "object",
    "required": ["id"],
    "properties": CLOSED_PROPS,
    "additionalProperties": False,
}
PAY_IF = {
    "type": "object",
    "required": ["kind"],
    "properties": {"kind": {"enum": ["card", "wire"]}, "card": S, "iban": S},
    "if": {"properties": {"kind": {"const": "card"}}},
    "then": {"required": ["card"]},
    "else": {"required": ["iban"]},
}
PAY_ONEOF = {
    "type": "object",
    "required": ["kind"],
    "properties": {"kind": {"enum": ["card", "wire"]}, "card": S, "iban": S},
    "oneOf": [
        {"properties": {"kind": {"const": "card"}}, "required": ["card"]},
        {"properties": {"kind": {"const": "wire"}}, "required": ["iban"]},
    ],
}
PAY_ONEOF_LOOSE = {
    **PAY_ONEOF,
    "oneOf": [
        {"properties": {"kind": {"const": "card"}}, "required": ["card"]},
        {"properties": {"kind": {"const": "wire"}}},
    ],
}

CASES: list[Hard] = [
    # -- regex inclusion ----------------------------------------------------------------------
    Hard("currency-letters-to-list", "regex", pat("^[A-Z]{3}$"), pat("^(EUR|USD)$"),
         backward=ev("GBP")),
    Hard("currency-list-to-letters", "regex", pat("^(EUR|USD)$"), pat("^[A-Z]{3}$"),
         forward=ev("GBP")),
    Hard("repetition-widened", "regex", pat("^[0-9]{4,6}$"), pat("^[0-9]{2,8}$"),
         forward=ev("12")),
    Hard("repetition-narrowed", "regex", pat("^[0-9]{2,8}$"), pat("^[0-9]{4,6}$"),
         backward=ev("12")),
    Hard("anchors-dropped", "regex", pat("^ord-[0-9]+$"), pat("ord-[0-9]+"),
         forward=ev("xord-1")),
    Hard("anchors-added", "regex", pat("ord-[0-9]+"), pat("^ord-[0-9]+$"),
         backward=ev("xord-1")),
    Hard("plus-to-star", "regex", pat("^[a-z]+$"), pat("^[a-z]*$"), forward=ev("")),
    Hard("same-language-rewritten", "regex", pat("^(ab)+$"), pat("^ab(ab)*$")),
    Hard("ascii-word-to-backslash-w", "regex", pat("^[A-Za-z0-9_]+$"), pat(r"^\w+$"),
         forward=ev("é")),
    Hard("backslash-d-to-ascii-digits", "regex", pat(r"^\d{3}$"), pat("^[0-9]{3}$"),
         backward=ev("١٢٣")),
    Hard("prefix-shortened", "regex", pat("^ORD-"), pat("^ORD"), forward=ev("ORD")),
    Hard("kebab-to-class", "regex", pat("^[a-z]+(-[a-z]+)*$"), pat("^[a-z-]+$"),
         forward=ev("-")),
    Hard("clock-exact-to-loose", "regex", pat("^([01][0-9]|2[0-3]):[0-5][0-9]$"),
         pat("^[0-2][0-9]:[0-5][0-9]$"), forward=ev("29:00")),
    Hard("infix-shortened", "regex", pat("abc"), pat("b"), forward=ev("b")),
    Hard("alternation-reordered", "regex", pat("^(?:USD|EUR|GBP)$"), pat("^(GBP|EUR|USD)$")),
    Hard("iban-length-widened", "regex", pat("^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"),
         pat("^[A-Z]{2}[0-9]{2}[A-Z0-9]{4,30}$"), forward=ev("DE001234")),
    Hard("property-names-widened", "regex",
         {"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}},
         {"type": "object", "propertyNames": {"pattern": "^[a-z_]+$"}},
         forward={"a_b": 1}),
    Hard("enum-to-pattern", "regex", field({"enum": ["EUR", "USD"]}), pat("^[A-Z]{3}$"),
         forward=ev("GBP")),
    Hard("pattern-to-enum", "regex", pat("^(EUR|USD)$"), field({"enum": ["EUR", "USD"]}),
         backward=ev("EUR\n"), forward=NONE),
    # -- equivalent forms ---------------------------------------------------------------------
    Hard("enum-to-integer-range", "equivalent", field({"enum": [1, 2, 3, 4, 5]}),
         field({"type": "integer", "minimum": 1, "maximum": 5})),
    Hard("integer-range-to-enum", "equivalent",
         field({"type": "integer", "minimum": 1, "maximum": 5}), field({"enum": [1, 2, 3, 4, 5]})),
    Hard("integer-range-to-split-ranges", "equivalent",
         field({"type": "integer", "minimum": 0, "maximum": 99}),
         field({"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9},
                          {"type": "integer", "minimum": 10, "maximum": 99}]})),
    Hard("number-multipleOf-1-to-integer", "equivalent",
         field({"type": "number", "multipleOf": 1, "minimum": 0}),
         field({"type": "integer", "minimum": 0})),
    Hard("integer-to-number-multipleOf-1", "equivalent", field(I),
         field({"type": "number", "multipleOf": 1})),
    Hard("boolean-to-enum", "equivalent", field({"type": "boolean"}),
         field({"enum": [True, False]})),
    Hard("prefixItems-closed-to-maxItems", "equivalent",
         field({"type": "array", "prefixItems": [S, I], "items": False}),
         field({"type": "array", "prefixItems": [S, I], "maxItems": 2})),
    Hard("maxItems-to-prefixItems-closed", "equivalent",
         field({"type": "array", "prefixItems": [S, I], "maxItems": 2}),
         field({"type": "array", "prefixItems": [S, I], "items": False})),
    Hard("allOf-unevaluated-to-closed", "equivalent",
         {"allOf": [{"type": "object", "required": ["id"], "properties": {"id": S}},
                    {"properties": {"n": I}}], "unevaluatedProperties": False},
         CLOSED),
    Hard("closed-to-allOf-unevaluated", "equivalent", CLOSED,
         {"allOf": [{"type": "object", "required": ["id"], "properties": {"id": S}},
                    {"properties": {"n": I}}], "unevaluatedProperties": False}),
    Hard("unevaluated-to-additional", "equivalent",
         {**OPEN, "unevaluatedProperties": False}, CLOSED),
    Hard("if-then-else-to-oneOf", "equivalent", PAY_IF, PAY_ONEOF),
    Hard("oneOf-to-if-then-else", "equivalent", PAY_ONEOF, PAY_IF),
    Hard("nullable-by-not", "equivalent",
         field({"type": ["string", "null"], "not": {"type": "null"}}), field(S)),
    Hard("allOf-bounds-to-flat", "equivalent",
         field({"type": "string", "allOf": [{"minLength": 2}, {"maxLength": 5}]}),
         field({"type": "string", "minLength": 2, "maxLength": 5})),
    Hard("ref-allOf-to-flat", "equivalent",
         {"$defs": {"Base": {"type": "object", "required": ["id"], "properties": {"id": S}}},
          "allOf": [{"$ref": "#/$defs/Base"}, {"properties": {"n": I}, "required": ["n"]}]},
         {"type": "object", "required": ["id", "n"], "properties": {"id": S, "n": I}}),
    # -- implied constraints ------------------------------------------------------------------
    Hard("minLength-implied-by-pattern", "implied", pat("^[A-Z]{3}$"),
         pat("^[A-Z]{3}$", minLength=3)),
    Hard("minLength-1-implied-by-plus", "implied", pat("^[a-z]+$"), pat("^[a-z]+$", minLength=1)),
    Hard("dependentRequired-on-required", "implied", field(S),
         field(S, dependentRequired={"v": ["id"]})),
    Hard("propertyNames-of-closed-model", "implied", CLOSED,
         {**CLOSED, "propertyNames": {"pattern": "^[a-z]+$"}}),
    Hard("propertyNames-enum-of-closed-model", "implied", CLOSED,
         {**CLOSED, "propertyNames": {"enum": ["id", "n"]}}),
    Hard("maxProperties-of-closed-model", "implied", CLOSED, {**CLOSED, "maxProperties": 2}),
    Hard("minProperties-of-required", "implied", CLOSED, {**CLOSED, "minProperties": 1}),
    Hard("uniqueItems-on-singletons", "implied", field({"type": "array", "maxItems": 1}),
         field({"type": "array", "maxItems": 1, "uniqueItems": True})),
    Hard("contains-every-item", "implied",
         field({"type": "array", "items": I, "minItems": 1}),
         field({"type": "array", "items": I, "minItems": 1, "contains": {"type": "integer"}})),
    Hard("minItems-implied-by-contains", "implied",
         field({"type": "array", "contains": S}),
         field({"type": "array", "contains": S, "minItems": 1})),
    Hard("not-never-matches", "implied", field(S), field({"type": "string", "not": I})),
    Hard("if-never-matches", "implied",
         {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "a"}}},
         {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "a"}},
          "if": {"required": ["kind"], "properties": {"kind": {"const": "b"}}},
          "then": {"required": ["x"]}}),
    Hard("closed-by-propertyNames", "implied",
         {"type": "object", "properties": CLOSED_PROPS, "required": ["id"],
          "propertyNames": {"enum": ["id", "n"]}},
         CLOSED),
    Hard("enum-inside-bounds", "implied", field({"enum": ["ab", "abc"]}),
         field({"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^ab"}),
         forward=ev("abx")),
    # -- near misses: truly breaking ----------------------------------------------------------
    Hard("maxLength-not-implied-by-dollar", "breaking", pat("^[A-Z]{3}$"),
         pat("^[A-Z]{3}$", maxLength=3), backward=ev("ABC\n")),
    Hard("propertyNames-of-open-model", "breaking", field(S),
         field(S, propertyNames={"pattern": "^[a-z]+$"}), backward={"id": "e", "v": "s", "X": 1}),
    Hard("maxProperties-of-open-model", "breaking", CLOSED | {"additionalProperties": True},
         {**CLOSED, "additionalProperties": True, "maxProperties": 2},
         backward={"id": "e", "n": 1, "z": 0}),
    Hard("dependentRequired-on-optional", "breaking",
         field(S, properties={"id": S, "v": S, "w": S}),
         field(S, properties={"id": S, "v": S, "w": S}, dependentRequired={"w": ["x"]}),
         backward={"id": "e", "v": "s", "w": "t"}),
    Hard("uniqueItems-on-pairs", "breaking", field({"type": "array", "maxItems": 2}),
         field({"type": "array", "maxItems": 2, "uniqueItems": True}), backward=ev([1, 1])),
    Hard("contains-not-every-item", "breaking",
         field({"type": "array", "items": {}, "minItems": 1}),
         field({"type": "array", "minItems": 1, "contains": I}), backward=ev(["a"])),
    Hard("not-can-match", "breaking", field(S), field({"type": "string", "not": {"const": "x"}}),
         backward=ev("x")),
    Hard("if-can-match", "breaking",
         {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["a", "b"]}}},
         {"type": "object", "required": ["kind"], "properties": {"kind": {"enum": ["a", "b"]}},
          "if": {"required": ["kind"], "properties": {"kind": {"const": "b"}}},
          "then": {"required": ["x"]}},
         backward={"kind": "b"}),
    Hard("oneOf-loosened-overlap", "breaking", PAY_IF, PAY_ONEOF_LOOSE,
         forward={"kind": "wire"}),
    Hard("additional-true-beats-unevaluated", "breaking",
         {**OPEN, "additionalProperties": True, "unevaluatedProperties": False}, CLOSED,
         backward={"id": "e", "z": 1}),
    Hard("range-to-enum-with-gap", "breaking",
         field({"type": "integer", "minimum": 1, "maximum": 5}), field({"enum": [1, 2, 4, 5]}),
         backward=ev(3)),
    Hard("number-multipleOf-half-to-integer", "breaking",
         field({"type": "number", "multipleOf": 0.5}), field(I), backward=ev(0.5)),
    Hard("prefixItems-closed-to-longer", "breaking",
         field({"type": "array", "prefixItems": [S, I], "items": False}),
         field({"type": "array", "prefixItems": [S, I], "maxItems": 3}), forward=ev(["a", 1, 2])),
    Hard("unevaluated-keeps-allOf-props-only", "breaking",
         {"allOf": [{"type": "object", "properties": {"id": S}}, {"properties": {"n": I}}],
          "unevaluatedProperties": False},
         {"type": "object", "properties": {"id": S}, "additionalProperties": False},
         backward={"n": 1}),
]  # fmt: skip

# A second batch, written after the checker was built and measured before any change to it
# (bench/compat_gate.py reports it apart as "held out").
HEX = "^[a-f0-9]{32}$"
HELD_OUT: list[Hard] = [
    Hard("hex-case-widened", "regex", pat(HEX), pat("^[a-fA-F0-9]{32}$"), forward=ev("A" * 32)),
    Hard("phone-shorter", "regex", pat(r"^\+?[0-9]{7,15}$"), pat(r"^\+?[0-9]{6,15}$"),
         forward=ev("123456")),
    Hard("country-2-to-3", "regex", pat("^[A-Z]{2}$"), pat("^[A-Z]{2,3}$"), forward=ev("USA")),
    Hard("version-more-parts", "regex", pat(r"^v[0-9]+\.[0-9]+$"), pat(r"^v[0-9]+(\.[0-9]+)*$"),
         forward=ev("v1")),
    Hard("domain-to-loose", "regex", pat(r"^(?:[a-z0-9-]+\.)+[a-z]{2,}$"), pat("^[a-z0-9.-]+$"),
         forward=ev("-")),
    Hard("sku-longer-with-min", "regex", pat("^SKU-[0-9]{6}$"),
         pat("^SKU-[0-9]{6,8}$", minLength=10), forward=ev("SKU-1234567")),
    Hard("space-to-backslash-s", "regex", pat("^[a-z ]+$"), pat(r"^[a-z\s]+$"),
         forward=ev("a\t")),
    Hard("date-digits-to-backslash-d", "regex", pat("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
         pat(r"^\d{4}-\d{2}-\d{2}$"), forward=ev("\u0661\u0662\u0663\u0664-01-01")),
    Hard("contains-digit-to-alnum", "regex", pat("[0-9]"), pat("[0-9a-z]"), forward=ev("a")),
    Hard("empty-alternative-added", "regex", pat("^[a-z]+$"), pat("^[a-z]+$|^$"),
         forward=ev("")),
    Hard("nullable-type-list-to-anyOf", "equivalent", field({"type": ["integer", "null"]}),
         field({"anyOf": [I, {"type": "null"}]})),
    Hard("oneOf-consts-to-enum", "equivalent", field({"oneOf": [{"const": "a"}, {"const": "b"}]}),
         field({"enum": ["a", "b"]})),
    Hard("exclusive-range-to-enum", "equivalent",
         field({"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 4}),
         field({"enum": [1, 2, 3]})),
    Hard("number-step-2-to-integer-step-2", "equivalent",
         field({"type": "number", "multipleOf": 2}), field({"type": "integer", "multipleOf": 2})),
    Hard("ref-unevaluated-to-closed", "equivalent",
         {"$defs": {"Base": {"type": "object", "required": ["id"], "properties": {"id": S}}},
          "allOf": [{"$ref": "#/$defs/Base"}], "properties": {"n": I},
          "unevaluatedProperties": False},
         CLOSED),
    Hard("enum-minus-not-to-const", "equivalent",
         field({"enum": ["x", "y"], "not": {"const": "x"}}),
         field({"const": "y"})),
    Hard("uniqueItems-on-one-slot", "implied",
         field({"type": "array", "prefixItems": [I], "items": False}),
         field({"type": "array", "prefixItems": [I], "items": False, "uniqueItems": True})),
    Hard("dependentRequired-closed-required", "implied", CLOSED,
         {**CLOSED, "dependentRequired": {"n": ["id"]}}),
    Hard("maxLength-of-enum", "implied", field({"type": "string", "enum": ["a", "bb"]}),
         field({"type": "string", "enum": ["a", "bb"], "maxLength": 2})),
    Hard("not-other-kind", "implied",
         {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "a"}}},
         {"type": "object", "required": ["kind"], "properties": {"kind": {"const": "a"}},
          "not": {"required": ["kind"], "properties": {"kind": {"const": "b"}}}}),
    Hard("minContains-by-items", "implied",
         field({"type": "array", "items": I, "minItems": 2}),
         field({"type": "array", "items": I, "minItems": 2, "contains": I, "minContains": 2})),
    Hard("short-names-of-closed-model", "implied",
         {"type": "object", "properties": {"a": S, "b": I}, "additionalProperties": False},
         {"type": "object", "properties": {"a": S, "b": I}, "additionalProperties": False,
          "propertyNames": {"maxLength": 1}}),
    Hard("minContains-raised", "breaking", field({"type": "array", "contains": I}),
         field({"type": "array", "contains": I, "minContains": 2}), backward=ev([1])),
    Hard("number-step-1-5-to-integer", "breaking", field({"type": "number", "multipleOf": 1.5}),
         field(I), backward=ev(1.5), forward=ev(1)),
    Hard("short-names-of-longer-model", "breaking",
         {"type": "object", "properties": {"id": S, "abc": I}, "additionalProperties": False},
         {"type": "object", "properties": {"id": S, "abc": I}, "additionalProperties": False,
          "propertyNames": {"maxLength": 2}}, backward={"abc": 1}),
    Hard("if-on-optional-discriminator", "breaking",
         {"type": "object", "properties": {"k": {"enum": ["a", "b"]}}},
         {"type": "object", "properties": {"k": {"enum": ["a", "b"]}},
          "if": {"properties": {"k": {"const": "b"}}}, "then": {"required": ["x"]}},
         backward={}),
]  # fmt: skip

ALL = CASES + HELD_OUT
