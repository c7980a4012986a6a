"""OData query options -> one parameterised SQL query (pure).

`$filter` is parsed by the `odata-query` library into its AST; this module walks that AST and
emits SQL with `$n` placeholders, every literal a parameter, every identifier looked up in the
entity set's property list (so no text of the request ever becomes SQL). Anything this service
does not do is refused with a specific message rather than ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from ...core.errors import ErrorKind, GatewayError
from .model import EntitySet, Property

SUPPORTED = frozenset({"$filter", "$orderby", "$select", "$top", "$skip", "$count", "$format",
                       "$skiptoken"})  # fmt: skip
KNOWN_UNSUPPORTED = frozenset({"$expand", "$search", "$apply", "$compute", "$levels", "$index",
                               "$schemaversion", "$deltatoken", "$id"})  # fmt: skip
MAX_FILTER_CHARS = 4000
MAX_FILTER_NODES = 200
MAX_SKIP = 10_000_000
_ORDER_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?\s*$")


def bad(message: str) -> GatewayError:
    return GatewayError(ErrorKind.BAD_REQUEST, message)


@dataclass(frozen=True)
class Query:
    where: str  # "" or an SQL condition with $1.. placeholders
    params: tuple[Any, ...]
    order: tuple[tuple[Property, bool], ...]  # (property, descending)
    select: tuple[Property, ...]
    top: int | None
    skip: int
    count: bool
    options: Mapping[str, str] = field(default_factory=dict)  # as given, for next links


# -- $filter ------------------------------------------------------------------------------------
_COMPARE = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_LITERAL_KIND: dict[type[ast._Node], str] = {
    ast.String: "Edm.String",
    ast.Integer: "number",
    ast.Float: "number",
    ast.Boolean: "Edm.Boolean",
    ast.DateTime: "Edm.DateTimeOffset",
    ast.Date: "Edm.Date",
    ast.GUID: "Edm.Guid",
}
_ACCEPTS = {
    "Edm.String": {"Edm.String", "Edm.Guid"},
    "Edm.DateTimeOffset": {"Edm.DateTimeOffset", "Edm.Date"},
    "Edm.Int32": {"number"},
    "Edm.Int64": {"number"},
    "Edm.Boolean": {"Edm.Boolean"},
}
_EXAMPLE = {
    "Edm.String": "a string in single quotes, e.g. 'abc'",
    "Edm.DateTimeOffset": "a date-time literal, e.g. 2026-01-31T12:00:00Z",
    "Edm.Int32": "a whole number",
    "Edm.Int64": "a whole number",
    "Edm.Boolean": "true or false",
}


def parse_filter(text: str) -> ast._Node:
    if len(text) > MAX_FILTER_CHARS:
        raise bad(f"$filter is longer than {MAX_FILTER_CHARS} characters")
    if not text.strip():
        raise bad("$filter is empty")
    try:
        tree: ast._Node = ODataParser().parse(ODataLexer().tokenize(text))
    except ODataException as exc:
        index = getattr(getattr(exc, "token", None), "index", None)
        where = f" near position {index + 1}" if isinstance(index, int) else ""
        raise bad(f"$filter is not valid OData{where}") from None
    except Exception:  # the parser raises plain errors on some malformed literals
        raise bad("$filter is not valid OData (malformed expression or literal)") from None
    if tree is None:
        raise bad("$filter is empty")
    return tree


class FilterCompiler:
    """One `$filter` AST -> SQL condition; literals go to `params` (shared with the caller)."""

    def __init__(self, entity_set: EntitySet, params: list[Any]) -> None:
        self.entity_set = entity_set
        self.params = params
        self.nodes = 0

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def condition(self, node: ast._Node) -> str:
        self.nodes += 1
        if self.nodes > MAX_FILTER_NODES:
            raise bad(f"$filter has more than {MAX_FILTER_NODES} terms")
        if isinstance(node, ast.BoolOp):
            op = "AND" if isinstance(node.op, ast.And) else "OR"
            return f"({self.condition(node.left)} {op} {self.condition(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(NOT {self.condition(node.operand)})"
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Identifier):
            prop = self.property(node)
            if prop.edm != "Edm.Boolean":
                raise bad(f"{prop.name} is not a boolean; compare it with something")
            return f"({prop.column} IS TRUE)"
        if isinstance(node, ast.Boolean):
            return self.param(node.py_val) + "::boolean"
        raise bad(f"$filter: {type(node).__name__.lower()} is not a condition")

    def property(self, node: ast._Node) -> Property:
        if isinstance(node, ast.Identifier) and not node.namespace:
            prop = self.entity_set.find(node.name)
            if prop is not None:
                return prop
            raise bad(
                f"$filter: {self.entity_set.type_name} has no property {node.name!r} "
                f"(it has {', '.join(self.entity_set.names)})"
            )
        if isinstance(node, ast.Attribute | ast.Identifier):
            raise bad("$filter: property paths are not supported; use a property of the set")
        raise bad(f"$filter: expected a property, found {type(node).__name__.lower()}")

    def literal(self, prop: Property, node: ast._Node) -> Any:
        kind = _LITERAL_KIND.get(type(node))
        if kind is None or kind not in _ACCEPTS.get(prop.edm, set()):
            raise bad(f"$filter: {prop.name} is {prop.edm}; compare it with {_EXAMPLE[prop.edm]}")
        try:
            value = node.py_val  # type: ignore[attr-defined]
        except (ValueError, OverflowError):
            raise bad(f"$filter: malformed literal for {prop.name}") from None
        if prop.edm == "Edm.DateTimeOffset":
            if isinstance(value, date) and not isinstance(value, datetime):
                value = datetime.combine(value, time(), UTC)
            elif value.tzinfo is None:
                raise bad(f"$filter: the date-time for {prop.name} needs a time zone (Z or +hh:mm)")
        if prop.edm in ("Edm.Int32", "Edm.Int64"):
            if isinstance(value, float):
                raise bad(f"$filter: {prop.name} is a whole number")
            if not -(2**63) <= value < 2**63:
                raise bad(f"$filter: the number for {prop.name} is out of range")
        if prop.edm == "Edm.String":
            value = str(value)
        return value

    def compare(self, node: ast.Compare) -> str:
        left, right, comparator = node.left, node.right, node.comparator
        if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            left, right = right, left
            flipped = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
            comparator = flipped.get(type(comparator), type(comparator))()
        if isinstance(comparator, ast.In):
            prop = self.property(left)
            if not isinstance(right, ast.List) or not right.val:
                raise bad(f"$filter: 'in' needs a list of values, e.g. {prop.name} in ('a','b')")
            if len(right.val) > MAX_FILTER_NODES:
                raise bad(f"$filter: 'in' takes at most {MAX_FILTER_NODES} values")
            values = [self.literal(prop, v) for v in right.val]
            return f"({prop.column} = ANY({self.param(values)}))"
        if isinstance(left, ast.Call):
            test = self.call(left)  # refuses functions this service does not have
            if not isinstance(right, ast.Boolean) or not isinstance(comparator, ast.Eq | ast.NotEq):
                raise bad(f"$filter: compare {left.func.name}(...) with eq/ne true or false")
            same = isinstance(comparator, ast.Eq) == right.py_val
            return test if same else f"(NOT {test})"
        prop = self.property(left)
        op = _COMPARE.get(type(comparator))
        if op is None:
            raise bad(f"$filter: unsupported comparison {type(comparator).__name__}")
        if isinstance(right, ast.Null):
            if op == "=":
                return f"({prop.column} IS NULL)"
            if op == "<>":
                return f"({prop.column} IS NOT NULL)"
            raise bad("$filter: null can only be compared with eq or ne")
        value = self.param(self.literal(prop, right))
        if op == "<>":  # OData: null ne 'x' is true
            return f"({prop.column} IS DISTINCT FROM {value})"
        return f"({prop.column} {op} {value})"

    def call(self, node: ast.Call) -> str:
        full_name = ".".join((*node.func.namespace, node.func.name))
        name = node.func.name.lower() if not node.func.namespace else full_name
        if name not in ("contains", "startswith", "endswith"):
            raise bad(
                f"$filter: function {full_name!r} is not supported "
                "(supported: contains, startswith, endswith)"
            )
        if len(node.args) != 2:
            raise bad(f"$filter: {name} takes a property and a string")
        prop = self.property(node.args[0])
        if prop.edm != "Edm.String":
            raise bad(f"$filter: {name} needs a string property; {prop.name} is {prop.edm}")
        value = self.param(self.literal(prop, node.args[1]))
        column = f"coalesce({prop.column}, '')"
        if name == "contains":
            return f"(strpos({column}, {value}) > 0)"
        if name == "startswith":
            return f"starts_with({column}, {value})"
        return f"(right({column}, char_length({value})) = {value})"


# -- the other options ---------------------------------------------------------------------------
def _whole(name: str, raw: str, maximum: int) -> int:
    if not raw.isdigit():
        raise bad(f"{name} must be a non-negative whole number, not {raw[:40]!r}")
    value = int(raw)
    if value > maximum:
        raise bad(f"{name} must be at most {maximum}")
    return value


def _properties(entity_set: EntitySet, raw: str, option: str) -> list[str]:
    names = [n.strip() for n in raw.split(",")]
    if not all(names):
        raise bad(f"{option} has an empty item")
    return names


def parse_query(
    entity_set: EntitySet,
    options: Mapping[str, str],
    *,
    max_top: int,
    leading: tuple[Any, ...] = (),
) -> Query:
    """The query options of one request (names are case-sensitive, as OData 4.0 says).
    `leading`: parameters the table expression itself uses ($1..), before the filter's."""
    for name in options:
        if name in KNOWN_UNSUPPORTED:
            raise bad(f"{name} is not supported by this service")
        if name.startswith("$") and name not in SUPPORTED:
            raise bad(f"unknown query option {name}")
    fmt = options.get("$format")
    if fmt is not None and fmt.split(";")[0].strip().lower() not in ("json", "application/json"):
        raise bad("$format: only json is supported")
    params: list[Any] = list(leading)
    where = ""
    if options.get("$filter") is not None:
        where = FilterCompiler(entity_set, params).condition(parse_filter(options["$filter"]))
    order: list[tuple[Property, bool]] = []
    if options.get("$orderby"):
        for item in options["$orderby"].split(","):
            match = _ORDER_ITEM.match(item)
            if match is None:
                raise bad(f"$orderby: {item.strip()[:60]!r} is not 'Property [asc|desc]'")
            prop = entity_set.find(match.group(1))
            if prop is None:
                raise bad(f"$orderby: {entity_set.type_name} has no property {match.group(1)!r}")
            order.append((prop, match.group(2) == "desc"))
    select: list[Property] = []
    if options.get("$select") and options["$select"].strip() != "*":
        for name in _properties(entity_set, options["$select"], "$select"):
            prop = entity_set.find(name)
            if prop is None:
                raise bad(f"$select: {entity_set.type_name} has no property {name!r}")
            if prop not in select:
                select.append(prop)
        key = entity_set.find(entity_set.key)
        if key is not None and key not in select:
            select.insert(0, key)  # the key always comes along (next links, entity ids)
    top = _whole("$top", options["$top"], max_top) if "$top" in options else None
    skip = _whole("$skip", options["$skip"], MAX_SKIP) if "$skip" in options else 0
    count_raw = options.get("$count", "false")
    if count_raw not in ("true", "false"):
        raise bad("$count must be true or false")
    return Query(
        where=where,
        params=tuple(params),
        order=tuple(order),
        select=tuple(select) or entity_set.properties,
        top=top,
        skip=skip,
        count=count_raw == "true",
        options=dict(options),
    )


def to_sql(entity_set: EntitySet, table: str, query: Query, limit: int, offset: int
           ) -> tuple[str, tuple[Any, ...]]:  # fmt: skip
    """SELECT for one page; `table` is a checked identifier, never request text."""
    columns = ", ".join(f"{p.column} AS {p.column.split('::')[0]}" for p in query.select)
    sql = f"SELECT {columns} FROM {table}"
    if query.where:
        sql += f" WHERE {query.where}"
    key = entity_set.find(entity_set.key)
    order = list(query.order)
    if key is not None and all(p != key for p, _ in order):
        order.append((key, order[-1][1] if order else False))  # a total order: stable pages
    sql += " ORDER BY " + ", ".join(f"{p.column} {'DESC' if d else 'ASC'}" for p, d in order)
    n = len(query.params)
    sql += f" LIMIT ${n + 1} OFFSET ${n + 2}"
    return sql, (*query.params, limit, offset)


def count_sql(table: str, query: Query) -> tuple[str, tuple[Any, ...]]:
    sql = f"SELECT count(*) FROM {table}"
    if query.where:
        sql += f" WHERE {query.where}"
    return sql, query.params
