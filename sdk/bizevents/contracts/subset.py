"""The subset checker: ways a payload valid under `sub` could be invalid under `sup` (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from jsonschema import Draft202012Validator

from . import regex
from .normalize import normalize
from .refs import join
from .schemalogic import (
    ANNOTATIONS,
    HANDLED,
    canon,
    disjoint,
    finite,
    lower_bound,
    matches,
    merge,
    num,
    small_domain,
    types_of,
    upper_bound,
)
from .violation import Violation

MAX_DEPTH = 100
# Sub-checks per comparison: nested anyOf/oneOf try every branch, so hostile schemas could
# multiply the work; past this budget the answer is "cannot prove".
MAX_STEPS = 50_000
CANNOT_PROVE = "cannot prove compatibility, treated as breaking"


class Subset:
    """Finds ways an instance valid under `sub` could be invalid under `sup`."""

    def __init__(self, sub: Any, sup: Any, *, sup_is_new: bool) -> None:
        self.sub_root = sub
        self.sup_root = sup
        self.sup_is_new = sup_is_new
        self.direction = "backward" if sup_is_new else "forward"
        self.found: list[Violation] = []
        self.seen: set[tuple[int, int]] = set()
        # Keeps every schema whose id() is in `seen` alive, so ids cannot be reused.
        self.keep: list[Any] = []
        self.steps = [0]  # shared with trial probes
        self.canons: dict[int, str] = {}  # id -> canonical text, for objects kept alive
        self.normal: dict[tuple[int, int], Any] = {}  # (id, root id) -> normal form, kept alive

    def run(self) -> list[Violation]:
        self.check(self.sub_root, self.sup_root, "", 0, ())
        if self.steps[0] > MAX_STEPS:
            self.unproven("", "too-complex", f"more than {MAX_STEPS} comparisons needed")
        unique = {(v.pointer, v.rule, v.message): v for v in self.found}
        return sorted(unique.values(), key=lambda v: (v.pointer, v.rule))

    # -- helpers ----------------------------------------------------------------------------
    def fail(self, ptr: str, narrow: str, widen: str, message: str) -> None:
        """narrow: the rule when sup is the new schema (new rejects what old accepted)."""
        rule = narrow if self.sup_is_new else widen
        self.found.append(Violation(ptr, rule, message, self.direction))

    def unproven(self, ptr: str, rule: str, what: str) -> None:
        self.found.append(Violation(ptr, rule, f"{what}: {CANNOT_PROVE}", self.direction))

    @property
    def sub_name(self) -> str:
        return "old" if self.sup_is_new else "new"

    @property
    def sup_name(self) -> str:
        return "new" if self.sup_is_new else "old"

    def deref(self, schema: Any, root: Any, ptr: str) -> Any:
        """Follow local refs. An unresolvable ref on the sub side reads as "anything", on the
        sup side as "nothing": both make the comparison fail, never pass."""
        unresolved = root is self.sub_root and root is not self.sup_root
        for _ in range(MAX_DEPTH):
            if not isinstance(schema, dict) or "$ref" not in schema:
                return schema
            ref = schema["$ref"]
            target: Any = root
            if not isinstance(ref, str) or not ref.startswith("#"):
                self.unproven(ptr, "ref-unresolved", f"$ref {ref!r} is not local to the schema")
                return unresolved
            for raw in [t for t in ref[1:].split("/") if t]:
                token = raw.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and token in target:
                    target = target[token]
                else:
                    self.unproven(ptr, "ref-unresolved", f"$ref {ref!r} names nothing")
                    return unresolved
            siblings = {
                k: v
                for k, v in schema.items()
                if k not in ("$ref", "$defs", "definitions") and k not in ANNOTATIONS
            }
            # Without siblings keep the target itself: its identity detects recursion.
            schema = merge(target, siblings) if siblings and isinstance(target, dict) else target
        return schema

    def trial(self, sub: Any, sup: Any, ptr: str, depth: int) -> list[Violation]:
        probe = Subset(self.sub_root, self.sup_root, sup_is_new=self.sup_is_new)
        probe.seen = set(self.seen)
        probe.keep = self.keep
        probe.steps = self.steps
        probe.canons = self.canons
        probe.normal = self.normal
        probe.check(sub, sup, ptr, depth, ())
        return probe.found

    def valid(self, value: Any, schema: Any, root: Any) -> bool | None:
        """Whether `value` is valid under `schema` (refs resolved in `root`); None when that
        cannot be told (an unresolvable ref and the like)."""
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return None
        wrapper = dict(schema)
        for defs in ("$defs", "definitions"):
            if isinstance(root, dict) and defs in root and defs not in wrapper:
                wrapper[defs] = root[defs]
        try:
            return bool(Draft202012Validator(wrapper).is_valid(value))
        except Exception:
            return None

    def maybe_valid(self, value: Any, schema: Any) -> bool | None:
        """For disjointness across the two schemas: True if valid under either root's refs,
        None if either cannot tell, False only when both say invalid."""
        answers = {
            self.valid(value, schema, self.sub_root),
            self.valid(value, schema, self.sup_root),
        }
        return True if True in answers else None if None in answers else False

    def norm(self, schema: Any, root: Any) -> Any:
        """normalize(), memoised by identity so that recursive schemas stay recognisable."""
        if not isinstance(schema, dict):
            return schema
        # Keyed by root too: one object may sit in both schemas, its refs meaning different
        # things in each.
        key = (id(schema), id(root))
        if key not in self.normal:
            self.keep.append(schema)
            self.normal[key] = normalize(
                schema,
                lambda s: self.deref(s, root, ""),
                lambda v, s: self.valid(v, s, root),
                implied=root is self.sub_root and root is not self.sup_root,
            )
        return self.normal[key]

    def canon(self, schema: Any) -> str:
        """_canon, memoised: equality tests would otherwise re-serialise whole subtrees."""
        key = id(schema)
        if key not in self.canons:
            self.keep.append(schema)
            self.canons[key] = canon(schema)
        return self.canons[key]

    # -- the check ----------------------------------------------------------------------------
    def check(
        self, sub: Any, sup: Any, ptr: str, depth: int, exclusive_of: tuple[Any, ...]
    ) -> None:
        self.steps[0] += 1
        if self.steps[0] > MAX_STEPS:
            # Every check past the budget fails (one root-level violation after dedup), so a
            # trial branch can never look compatible just because it was not examined.
            self.unproven("", "too-complex", f"more than {MAX_STEPS} comparisons needed")
            return
        if depth > MAX_DEPTH:
            self.unproven(ptr, "too-deep", f"schemas nested deeper than {MAX_DEPTH} levels")
            return
        sub = self.norm(self.deref(sub, self.sub_root, ptr), self.sub_root)
        sup = self.norm(self.deref(sup, self.sup_root, ptr), self.sup_root)
        if sub is False or sup is True or sup == {}:
            return
        if sub is True:
            sub = {}
        if sup is False:
            self.fail(
                ptr,
                "schema-closed",
                "schema-opened",
                f"the {self.sup_name} schema accepts nothing here, the {self.sub_name} did",
            )
            return
        if not isinstance(sub, dict) or not isinstance(sup, dict):
            self.unproven(ptr, "schema-invalid", "not a schema")
            return
        key = (id(sub), id(sup))
        if key in self.seen:  # recursive schemas: the pair is already being checked
            return
        self.seen.add(key)
        self.keep.append((sub, sup))
        sub_text = self.canon(sub)
        if '"$ref"' not in sub_text and sub_text == self.canon(sup):
            return
        # Composition on the sub side: each branch (with the shared keywords) must fit.
        for word in ("anyOf", "oneOf"):
            if isinstance(sub.get(word), list):
                base = {k: v for k, v in sub.items() if k != word}
                branches = [merge(base, b) for b in sub[word]]
                for i, branch in enumerate(branches):
                    others = (
                        tuple(b for j, b in enumerate(branches) if j != i)
                        if word == "oneOf"
                        else ()
                    )
                    self.check(branch, sup, join(ptr, word, i), depth + 1, others)
                return
        if isinstance(sub.get("allOf"), list):
            merged: Any = {k: v for k, v in sub.items() if k != "allOf"}
            for member in sub["allOf"]:
                member = self.deref(member, self.sub_root, ptr)
                merged = merge(merged, member) if merged is not False else False
            self.check(merged, sup, ptr, depth + 1, exclusive_of)
            return
        # Finite sub: exact, value by value (small integer ranges and booleans count as finite
        # where the sup side lists values or branches).
        values = finite(sub)
        if values is None and finite(sup) is not None:
            values = small_domain(sub)
        if values is not None:
            self.check_values(sub, sup, values, ptr)
            return
        domain = small_domain(sub) if isinstance(sup.get("anyOf", sup.get("oneOf")), list) else None
        if domain is not None:
            self.check_domain(sub, sup, domain, ptr)
            return
        if finite(sup) is not None:
            word = "const" if "const" in sup else "enum"
            self.fail(
                join(ptr, word),
                f"{word}-added",
                f"{word}-removed",
                f"the {self.sup_name} schema allows only {finite(sup)!r} here, "
                f"the {self.sub_name} allowed any value of its type",
            )
            return
        # Composition on the sup side.
        if isinstance(sup.get("allOf"), list):
            for i, member in enumerate(sup["allOf"]):
                self.check(sub, member, join(ptr, "allOf", i), depth + 1, exclusive_of)
            sup = {k: v for k, v in sup.items() if k != "allOf"}
        sub_type = sub.get("type")
        if isinstance(sub_type, list) and len(sub_type) > 1 and ("anyOf" in sup or "oneOf" in sup):
            # A union of types may be spread over several branches: one type at a time.
            for one in sub_type:
                self.check({**sub, "type": one}, sup, ptr, depth + 1, exclusive_of)
            return
        for word in ("anyOf", "oneOf"):
            if isinstance(sup.get(word), list):
                base = {k: v for k, v in sup.items() if k != word}
                self.check_branches(sub, base, sup[word], word, ptr, depth, exclusive_of)
                return
        self.check_plain(sub, sup, ptr, depth)

    def check_values(self, sub: Mapping[str, Any], sup: Any, values: list[Any], ptr: str) -> None:
        # A value that cannot be validated counts as valid under sub and invalid under sup.
        rejected = [
            v
            for v in values
            if self.valid(v, sub, self.sub_root) is not False
            and self.valid(v, sup, self.sup_root) is not True
        ]
        if rejected:
            word = "const" if "const" in sub else "enum"
            both_const = "const" in sub and isinstance(sup, dict) and "const" in sup
            self.fail(
                join(ptr, word),
                "const-changed" if both_const else f"{word}-narrowed",
                "const-changed" if both_const else f"{word}-widened",
                f"value(s) {rejected[:5]!r} valid under the {self.sub_name} schema are "
                f"rejected by the {self.sup_name} one",
            )

    def check_domain(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], values: list[Any], ptr: str
    ) -> None:
        """A sub side of few values (small integer range, booleans, null) against branches:
        value by value, which also covers a range split over several branches."""
        word = "anyOf" if "anyOf" in sup else "oneOf"
        rejected = [
            v
            for v in values
            if self.valid(v, sub, self.sub_root) is not False
            and self.valid(v, sup, self.sup_root) is not True
        ]
        if rejected:
            self.fail(
                join(ptr, word),
                f"{word}-narrowed",
                f"{word}-widened",
                f"value(s) {rejected[:5]!r} valid under the {self.sub_name} schema are rejected "
                f"by the {self.sup_name} {word}",
            )

    def check_branches(
        self,
        sub: Mapping[str, Any],
        base: Mapping[str, Any],
        branches: list[Any],
        word: str,
        ptr: str,
        depth: int,
        exclusive_of: tuple[Any, ...],
    ) -> None:
        merged = [
            self.norm(merge(base, self.deref(b, self.sup_root, ptr)), self.sup_root)
            for b in branches
        ]
        trials = [self.trial(sub, b, join(ptr, word, i), depth + 1) for i, b in enumerate(merged)]
        fitting = [i for i, t in enumerate(trials) if not t]
        if not fitting:
            best = min(range(len(trials)), key=lambda i: len(trials[i])) if trials else 0
            reasons = "; ".join(v.message for v in trials[best][:3]) if trials else "no branches"
            self.fail(
                join(ptr, word),
                f"{word}-narrowed",
                f"{word}-widened",
                f"no branch of the {self.sup_name} {word} accepts every payload the "
                f"{self.sub_name} schema accepts here (closest branch {best}: {reasons})",
            )
            return
        if word == "oneOf":
            chosen = fitting[0]
            theirs = {canon(o) for o in exclusive_of}
            for k, other in enumerate(merged):
                if k == chosen or canon(other) in theirs or disjoint(sub, other, self.maybe_valid):
                    continue
                self.unproven(
                    join(ptr, "oneOf", k),
                    "one-of-overlap",
                    f"a payload may match both branch {chosen} and branch {k} of the "
                    f"{self.sup_name} oneOf (then it matches neither)",
                )

    def check_plain(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, depth: int
    ) -> None:
        sub_types, sup_types = types_of(sub), types_of(sup)
        lost = sub_types - sup_types
        if lost:
            self.fail(
                join(ptr, "type"),
                "type-narrowed",
                "type-widened",
                f"the {self.sub_name} schema accepts {sorted(lost)} here, the "
                f"{self.sup_name} does not",
            )
        common = sub_types & sup_types
        for word in sorted(set(sup) - HANDLED - ANNOTATIONS):
            if canon(sub.get(word)) != canon(sup.get(word)) and not word.startswith("x-"):
                self.unproven(join(ptr, word), f"{word}-changed", f"{word!r} differs")
        if "not" in sup and canon(sub.get("not")) != canon(sup["not"]):
            self.check_not(sub, sup, ptr, depth)
        if "string" in common:
            self.check_string(sub, sup, ptr)
        if common & {"number", "integer"}:
            self.check_number(sub, sup, ptr, integer="number" not in common)
        if "array" in common:
            self.check_array(sub, sup, ptr, depth)
        if "object" in common:
            self.check_object(sub, sup, ptr, depth)

    def bound(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, word: str, lower: bool
    ) -> None:
        mine, theirs = sub.get(word), sup.get(word)
        if theirs is None:
            return
        if mine is None or (mine < theirs if lower else mine > theirs):
            change = ("increased" if lower else "decreased") if mine is not None else "added"
            widen = ("decreased" if lower else "increased") if mine is not None else "removed"
            self.fail(
                join(ptr, word),
                f"{word}-{change}",
                f"{word}-{widen}",
                f"{word} is {theirs} in the {self.sup_name} schema, "
                f"{'absent' if mine is None else mine} in the {self.sub_name}",
            )

    def check_not(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, depth: int
    ) -> None:
        """sup says `not X`: fine when no sub instance can match X, or when sub excludes a
        superset of X itself."""
        excluded = self.deref(sup["not"], self.sup_root, ptr)
        if disjoint(sub, excluded, self.maybe_valid):
            return
        if "not" in sub and '"$ref"' not in canon(sub["not"]) + canon(excluded):
            own = self.deref(sub["not"], self.sub_root, ptr)
            # X ⊆ own exclusion: the sub side already rejects everything X matches.
            probe = Subset(excluded, own, sup_is_new=True)
            probe.steps = self.steps
            if not probe.run():
                return
        self.unproven(join(ptr, "not"), "not-changed", "'not' differs")

    def check_pattern(self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str) -> None:
        proven, why = regex.includes(
            sub.get("pattern") if isinstance(sub.get("pattern"), str) else None,
            sup["pattern"],
            sub.get("minLength", 0) if isinstance(sub.get("minLength"), int) else 0,
            sub.get("maxLength") if isinstance(sub.get("maxLength"), int) else None,
        )
        if proven:
            return
        if why.startswith("cannot decide") or ("pattern" not in sub and why == "no"):
            self.unproven(
                join(ptr, "pattern"),
                "pattern-changed" if "pattern" in sub else "pattern-added",
                f"pattern {sup['pattern']!r} in the {self.sup_name} schema: {why}"
                if "pattern" not in sub
                else f"pattern changed from {sub['pattern']!r} to {sup['pattern']!r}"
                if self.sup_is_new
                else f"pattern changed from {sup['pattern']!r} to {sub['pattern']!r}",
            )
        elif "pattern" in sub:
            self.fail(
                join(ptr, "pattern"),
                "pattern-changed",
                "pattern-changed",
                f"the {self.sub_name} pattern {sub['pattern']!r} accepts strings the "
                f"{self.sup_name} pattern {sup['pattern']!r} refuses: {why}",
            )
        else:
            self.fail(
                join(ptr, "pattern"),
                "pattern-added",
                "pattern-removed",
                f"the {self.sup_name} schema requires pattern {sup['pattern']!r}",
            )

    def check_string(self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str) -> None:
        self.bound(sub, sup, ptr, "minLength", lower=True)
        self.bound(sub, sup, ptr, "maxLength", lower=False)
        if "pattern" in sup and sub.get("pattern") != sup["pattern"]:
            self.check_pattern(sub, sup, ptr)
        if "format" in sup and sub.get("format") != sup["format"]:
            self.fail(
                join(ptr, "format"),
                "format-added" if "format" not in sub else "format-changed",
                "format-removed" if "format" not in sub else "format-changed",
                f"the {self.sup_name} schema requires format {sup['format']!r}, the "
                f"{self.sub_name} {sub.get('format', 'none')!r}",
            )

    def check_number(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, *, integer: bool
    ) -> None:
        for lower in (True, False):
            mine = lower_bound(sub, integer) if lower else upper_bound(sub, integer)
            theirs = lower_bound(sup, integer) if lower else upper_bound(sup, integer)
            if theirs is None:
                continue
            ok = mine is not None and (
                (theirs[0] < mine[0] if lower else theirs[0] > mine[0])
                or (theirs[0] == mine[0] and (not theirs[1] or mine[1]))
            )
            if not ok:
                word = "minimum" if lower else "maximum"
                tighter = "increased" if lower else "decreased"
                looser = "decreased" if lower else "increased"
                shown = "none" if mine is None else f"{float(mine[0]):g}{' (exclusive)' * mine[1]}"
                self.fail(
                    join(ptr, word),
                    f"{word}-{tighter}" if mine else f"{word}-added",
                    f"{word}-{looser}" if mine else f"{word}-removed",
                    f"{word} is {float(theirs[0]):g}{' (exclusive)' * theirs[1]} in the "
                    f"{self.sup_name} schema, {shown} in the {self.sub_name}",
                )
        theirs_m = num(sup.get("multipleOf"))
        if theirs_m:
            mine_m = num(sub.get("multipleOf")) or (Fraction(1) if integer else None)
            if mine_m is None or (mine_m / theirs_m).denominator != 1:
                self.fail(
                    join(ptr, "multipleOf"),
                    "multipleOf-changed",
                    "multipleOf-changed",
                    f"multipleOf {sup['multipleOf']} in the {self.sup_name} schema does not "
                    f"divide the {self.sub_name} one ({sub.get('multipleOf', 'none')})",
                )

    def check_array(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, depth: int
    ) -> None:
        self.bound(sub, sup, ptr, "minItems", lower=True)
        self.bound(sub, sup, ptr, "maxItems", lower=False)
        limit = sub.get("maxItems") if isinstance(sub.get("maxItems"), int) else None
        if sup.get("uniqueItems") and not sub.get("uniqueItems") and (limit is None or limit > 1):
            self.fail(
                join(ptr, "uniqueItems"),
                "uniqueItems-added",
                "uniqueItems-removed",
                f"the {self.sup_name} schema requires unique items, the {self.sub_name} did not",
            )
        sub_prefix, sup_prefix = sub.get("prefixItems") or [], sup.get("prefixItems") or []
        sub_rest, sup_rest = sub.get("items", True), sup.get("items", True)
        positions = max(len(sub_prefix), len(sup_prefix))
        # Positions at or past the sub side's maxItems never hold an item.
        for i in range(positions if limit is None else min(positions, limit)):
            a = sub_prefix[i] if i < len(sub_prefix) else sub_rest
            b = sup_prefix[i] if i < len(sup_prefix) else sup_rest
            self.check(a, b, join(ptr, "prefixItems", i), depth + 1, ())
        if limit is None or limit > positions:
            self.check(sub_rest, sup_rest, join(ptr, "items"), depth + 1, ())
        contains = ("contains", "minContains", "maxContains")
        if "contains" in sup and any(canon(sub.get(w)) != canon(sup.get(w)) for w in contains):
            self.check_contains(sub, sup, ptr, depth, limit)

    def check_contains(
        self,
        sub: Mapping[str, Any],
        sup: Mapping[str, Any],
        ptr: str,
        depth: int,
        limit: int | None,
    ) -> None:
        least = sup.get("minContains", 1)
        most = sup.get("maxContains")
        where = join(ptr, "contains")
        if most is not None and (limit is None or limit > most):
            self.unproven(where, "contains-changed", "maxContains cannot be proven")
            return
        if least == 0:
            return
        own_least = sub.get("minContains", 1)
        if (
            "contains" in sub
            and own_least >= least
            and not self.trial(sub["contains"], sup["contains"], where, depth + 1)
        ):
            return
        # Every item fits the sup side's `contains` and there are enough items.
        if sub.get("minItems", 0) >= least:
            items = [*(sub.get("prefixItems") or []), sub.get("items", True)]
            if not any(self.trial(item, sup["contains"], where, depth + 1) for item in items):
                return
        self.fail(
            where,
            "contains-added",
            "contains-removed",
            f"the {self.sup_name} schema requires {least} item(s) matching 'contains', the "
            f"{self.sub_name} does not ensure it",
        )

    def check_object(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, depth: int
    ) -> None:
        self.bound(sub, sup, ptr, "minProperties", lower=True)
        self.bound(sub, sup, ptr, "maxProperties", lower=False)
        sub_req, sup_req = set(sub.get("required", [])), set(sup.get("required", []))
        if "dependentRequired" in sup:
            self.check_dependent_required(sub, sup, ptr)
        if "propertyNames" in sup and canon(sub.get("propertyNames")) != canon(
            sup["propertyNames"]
        ):
            self.check_property_names(sub, sup, ptr, depth)
        for name in sorted(sup_req - sub_req):
            self.fail(
                join(ptr, "required"),
                "required-added",
                "required-removed",
                f"property {name!r} is required in the {self.sup_name} schema, optional "
                f"in the {self.sub_name}",
            )
        sub_pp, sup_pp = sub.get("patternProperties") or {}, sup.get("patternProperties") or {}
        if canon(sub_pp) != canon(sup_pp) and (
            sup_pp or sup.get("additionalProperties", True) is not True
        ):
            self.unproven(
                join(ptr, "patternProperties"),
                "patternProperties-changed",
                "patternProperties differ",
            )
        sub_props, sup_props = sub.get("properties") or {}, sup.get("properties") or {}
        sub_add, sup_add = (
            sub.get("additionalProperties", True),
            sup.get("additionalProperties", True),
        )
        for name in sorted(set(sub_props) | set(sup_props)):
            where = join(ptr, "properties", name)
            if (
                matches(name, sub_pp)
                and matches(name, sup_pp)
                and name not in sub_props
                and name not in sup_props
            ):
                continue
            mine = sub_props.get(name, sub_add if not matches(name, sub_pp) else True)
            theirs = sup_props.get(name, sup_add if not matches(name, sup_pp) else True)
            if name not in sup_props and theirs is False and mine is not False:
                self.fail(
                    where,
                    "property-removed-closed-content",
                    "property-added-closed-content",
                    f"property {name!r} is declared in the {self.sub_name} schema but the "
                    f"{self.sup_name} one does not declare it and forbids additional "
                    "properties",
                )
            elif (
                name not in sub_props
                and mine is True
                and self.trial(True, theirs, where, depth + 1)
            ):
                self.fail(
                    where,
                    "property-added-open-content",
                    "property-removed-open-content",
                    f"property {name!r} is constrained in the {self.sup_name} schema only, "
                    f"and the {self.sub_name} schema is open (any value was allowed)",
                )
            else:
                self.check(mine, theirs, where, depth + 1, ())
        if sub_add is not False and sup_add is False:
            self.fail(
                join(ptr, "additionalProperties"),
                "additionalProperties-closed",
                "additionalProperties-opened",
                f"the {self.sup_name} schema forbids undeclared properties, the "
                f"{self.sub_name} allowed them",
            )
        elif sub_add is not False and sup_add is not True:
            self.check(sub_add, sup_add, join(ptr, "additionalProperties"), depth + 1, ())

    def check_dependent_required(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str
    ) -> None:
        props = sub.get("properties") or {}
        closed = sub.get("additionalProperties", True) is False and not sub.get("patternProperties")
        required = set(sub.get("required", []))
        own = sub.get("dependentRequired") or {}
        for name, needs in (sup.get("dependentRequired") or {}).items():
            absent = props.get(name, not closed) is False
            if absent or set(needs) <= required | set(own.get(name, [])):
                continue
            self.fail(
                join(ptr, "dependentRequired", name),
                "dependentRequired-changed",
                "dependentRequired-changed",
                f"with {name!r} present the {self.sup_name} schema requires {sorted(needs)}, "
                f"the {self.sub_name} does not",
            )

    def check_property_names(
        self, sub: Mapping[str, Any], sup: Mapping[str, Any], ptr: str, depth: int
    ) -> None:
        where = join(ptr, "propertyNames")
        wanted = sup["propertyNames"]
        if "propertyNames" in sub:
            own = self.deref(sub["propertyNames"], self.sub_root, ptr)
            names: Any = merge({"type": "string"}, own) if isinstance(own, Mapping) else own
            self.check(names, wanted, where, depth + 1, ())
            return
        if sub.get("additionalProperties", True) is not False:
            self.check({"type": "string"}, wanted, where, depth + 1, ())
            return
        for pattern in sub.get("patternProperties") or {}:
            self.check({"type": "string", "pattern": pattern}, wanted, where, depth + 1, ())
        for name, schema in (sub.get("properties") or {}).items():
            if schema is not False and self.valid(name, wanted, self.sup_root) is not True:
                self.fail(
                    where,
                    "propertyNames-changed",
                    "propertyNames-changed",
                    f"property name {name!r} of the {self.sub_name} schema is refused by the "
                    f"{self.sup_name} propertyNames",
                )
