"""The OData v4 service (JSON format): a thin adapter over the gateway core.

    GET  /odata/                     service document
    GET  /odata/$metadata            CSDL (XML)
    GET  /odata/{Set}                ?$filter=&$orderby=&$select=&$top=&$skip=&$count=true
    GET  /odata/{Set}/$count         the number of matching entities, as text
    GET  /odata/{Set}('key')         one entity (DeadLetters(42): an integer key)
    POST /odata/Events               publish one event through the core (validated, outbox)
    POST /odata/DeadLetters(42)/BizEvents.Replay    send the letter back to its group (admin)
    POST /odata/Purge                {"Group"?, "EventType"?, "Until"?}: purge letters (admin)

Authentication: the gateway's API keys, as `Authorization: Bearer <key>` or HTTP Basic with the
key as the password (any user name). Every error is an OData error body with the core's status.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg
from aiokafka.errors import KafkaError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bizevents.dlq import DeadLetterFilter, DeadLetterSettings, DeadLetterStore
from bizevents.dlq import replay_dead_letters as replay_letters
from bizevents.envelope import new_event_id
from bizevents.migrations import checked_identifier

from ...core import Gateway, GatewayError, IncomingEvent, Principal
from ...core.errors import ErrorKind
from ...core.incoming import check_id
from ...core.permissions import Action, allowed
from ..rest import idempotency_of, parse_json, read_body
from .errors import JSON_MEDIA, ODATA_HEADERS, odata_error
from .model import (
    DEAD_LETTERS,
    ENTITY_SETS,
    EVENTS,
    NAMESPACE,
    SUBSCRIPTIONS,
    EntitySet,
    metadata_xml,
)
from .query import bad, count_sql, parse_query, to_sql

DEFAULT_PAGE_SIZE = 1000
DEFAULT_MAX_TOP = 10_000
DEFAULT_TIMEOUT = 5.0  # seconds a query may run
_TARGET = re.compile(r"^([A-Za-z]+)(\(.*\))?$", re.S)
_KEY = re.compile(r"^\((?:[A-Za-z]+=)?'((?:[^']|'')*)'\)$", re.S)
_INT_KEY = re.compile(r"^\((?:[A-Za-z]+=)?(\d{1,18})\)$")
_SQL_TYPES = {
    "Edm.String": "text",
    "Edm.DateTimeOffset": "timestamptz",
    "Edm.Int32": "integer",
    "Edm.Int64": "bigint",
    "Edm.Boolean": "boolean",
}
# Event properties a client may set on create; the others are the log's own.
_WRITABLE = {"Id", "Type", "Source", "Subject", "Time", "PartitionKey", "DataSchema", "Data"}

Handler = Callable[[Request, Principal], Awaitable[Response]]


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def setting(request: Request, name: str, default: Any) -> Any:
    return getattr(request.app.state, name, default)


def api_key(request: Request) -> str | None:
    """The key from `Bearer <key>` or from HTTP Basic (the password; the user name is free)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return None
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise GatewayError(ErrorKind.UNAUTHENTICATED, "malformed Basic credentials") from None
        _, _, password = decoded.partition(":")
        return password or None
    return None


def odata(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate (Bearer or Basic), count against the rate, call; errors as OData errors."""

    async def run(request: Request) -> Response:
        gateway = gateway_of(request)
        try:
            principal = await gateway.authenticate(api_key(request))
            gateway.admit(principal)
            return await handler(request, principal)
        except GatewayError as exc:
            return odata_error(exc)

    run.__name__ = handler.__name__
    return run


def service_root(request: Request) -> str:
    return str(request.url_for("odata_root"))


def json_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    return JSONResponse(body, status, headers={**ODATA_HEADERS, **headers}, media_type=JSON_MEDIA)


def target_of(request: Request) -> tuple[str, str | None]:
    """`Events` -> ("Events", None); `Events('id')` -> ("Events", "('id')")."""
    match = _TARGET.match(request.path_params["set"])
    if match is None:
        return request.path_params["set"], None
    return match.group(1), match.group(2)


def entity_set_of(request: Request) -> EntitySet:
    name = target_of(request)[0]
    for entity_set in ENTITY_SETS:
        if entity_set.name == name:
            return entity_set
    raise GatewayError(
        ErrorKind.NOT_FOUND,
        f"no entity set {name[:60]!r}; the sets are {', '.join(s.name for s in ENTITY_SETS)}",
    )


def dlq_schema(request: Request) -> str:
    return checked_identifier(str(setting(request, "dlq_schema", "bizevents")))


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


# -- sources: what each set reads, as a table expression (and its leading parameters) ----------
async def source_of(
    request: Request, principal: Principal, entity_set: EntitySet
) -> tuple[str, tuple[Any, ...]]:
    gateway = gateway_of(request)
    contracts = await gateway.contracts.current()
    if entity_set is EVENTS:
        table = f"{gateway.schema}.event_log"
        if principal.admin:
            return table, ()
        # An app reads the events of the types it may subscribe to, and nothing else.
        readable = [c.event_type for c in contracts if allowed(principal, Action.SUBSCRIBE, c)]
        return f"(SELECT * FROM {table} WHERE type = ANY($1::text[])) AS events", (readable,)
    if entity_set is DEAD_LETTERS:
        gateway.require_admin(principal)  # dead letters are the operator's
        return f"{dlq_schema(request)}.dead_letters", ()
    if entity_set is SUBSCRIPTIONS:
        rows = [
            {
                "id": s.id,
                "kind": s.kind,
                "app": s.app,
                "event_types": ",".join(s.event_types),
                "start": s.start,
                "created_at": s.created_at.isoformat() if s.created_at else None,
            }
            for s in await gateway.list_subscriptions(principal)
        ]
    else:
        rows = [
            {
                "type": c.event_type,
                "version": c.version,
                "source": c.source,
                "topic": c.topic,
                "service": c.service,
                "owner": c.owner,
                "description": c.description,
                "key_field": c.key_field,
                "schema": json.dumps(c.schema, sort_keys=True),
            }
            for c in contracts
            if allowed(principal, Action.PUBLISH, c) or allowed(principal, Action.SUBSCRIBE, c)
        ]
    columns = ", ".join(f"{p.column} {_SQL_TYPES[p.edm]}" for p in entity_set.properties)
    return f"jsonb_to_recordset($1::jsonb) AS rows({columns})", (json.dumps(rows),)


async def run_sql(request: Request, sql: str, params: tuple[Any, ...], fetch: str) -> Any:
    """One read under the service's statement timeout; a query over it is the client's 400."""
    timeout = float(setting(request, "odata_timeout", DEFAULT_TIMEOUT))
    async with gateway_of(request).connection() as conn, conn.transaction(readonly=True):
        await conn.execute(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        try:
            if fetch == "val":
                return await conn.fetchval(sql, *params)
            return await conn.fetch(sql, *params)
        except asyncpg.QueryCanceledError:
            raise bad(f"the query ran over the {timeout:g} s limit; narrow $filter") from None
        except asyncpg.DataError as exc:
            raise bad(f"a value in the query is out of range: {exc}") from None


def query_options(request: Request) -> dict[str, str]:
    options: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name in options:
            raise bad(f"query option {name} is given twice")
        options[name] = value
    return options


# -- handlers ------------------------------------------------------------------------------------
async def service_document(request: Request, principal: Principal) -> Response:
    root = service_root(request)
    return json_response(
        {
            "@odata.context": f"{root}$metadata",
            "value": [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in ENTITY_SETS],
        }
    )


async def metadata(request: Request, principal: Principal) -> Response:
    return Response(metadata_xml(), headers=ODATA_HEADERS, media_type="application/xml")


async def collection(request: Request, principal: Principal) -> Response:
    entity_set = entity_set_of(request)
    options = query_options(request)
    max_top = int(setting(request, "odata_max_top", DEFAULT_MAX_TOP))
    page = int(setting(request, "odata_page_size", DEFAULT_PAGE_SIZE))
    table, leading = await source_of(request, principal, entity_set)
    query = parse_query(entity_set, options, max_top=max_top, leading=leading)
    served = 0
    if "$skiptoken" in options:
        token = options["$skiptoken"]
        if not token.isdigit() or int(token) > 10_000_000:
            raise bad("$skiptoken is not one this service issued; follow @odata.nextLink as is")
        served = int(token)
    limit = page if query.top is None else max(0, min(page, query.top - served))
    sql, params = to_sql(entity_set, table, query, limit + 1, query.skip + served)
    rows = await run_sql(request, sql, params, "rows") if limit else []
    root = service_root(request)
    selected = (
        ""
        if query.select == entity_set.properties
        else ("(" + ",".join(p.name for p in query.select) + ")")
    )
    body: dict[str, Any] = {"@odata.context": f"{root}$metadata#{entity_set.name}{selected}"}
    if query.count:
        sql, params = count_sql(table, query)
        body["@odata.count"] = await run_sql(request, sql, params, "val")
    body["value"] = [
        {p.name: json_value(row[i]) for i, p in enumerate(query.select)} for row in rows[:limit]
    ]
    if len(rows) > limit and (query.top is None or served + limit < query.top):
        following = {k: v for k, v in options.items() if k != "$skiptoken"}
        following["$skiptoken"] = str(served + limit)
        body["@odata.nextLink"] = f"{root}{entity_set.name}?{urlencode(following, quote_via=quote)}"
    return json_response(body)


def key_literal(request: Request, entity_set: EntitySet) -> str:
    """The key in `Set(...)` as an OData literal (re-parsed by the filter parser, so checked)."""
    given = target_of(request)[1] or ""
    if entity_set is DEAD_LETTERS:
        number = _INT_KEY.match(given)
        if number is None:
            raise bad(f"the key of {entity_set.name} is a whole number: {entity_set.name}(42)")
        return number.group(1)
    match = _KEY.match(given)
    if match is None:
        raise bad(f"the key of {entity_set.name} is a string: {entity_set.name}('...')")
    return "'" + match.group(1) + "'"  # quotes inside stay doubled, as the parser wants them


async def read(request: Request, principal: Principal) -> Response:
    if target_of(request)[1] is not None:
        return await entity(request, principal)
    return await collection(request, principal)


async def count(request: Request, principal: Principal) -> Response:
    entity_set = entity_set_of(request)
    options = query_options(request)
    table, leading = await source_of(request, principal, entity_set)
    allowed_here = {"$filter", "$search"}
    for name in options:
        if name.startswith("$") and name not in allowed_here:
            raise bad(f"{name} does not apply to /$count")
    query = parse_query(entity_set, options, max_top=0, leading=leading)
    sql, params = count_sql(table, query)
    total = await run_sql(request, sql, params, "val")
    return PlainTextResponse(str(total), headers=ODATA_HEADERS)


async def entity(request: Request, principal: Principal) -> Response:
    entity_set = entity_set_of(request)
    key = key_literal(request, entity_set)
    options = query_options(request)
    for name in options:
        if name.startswith("$") and name not in ("$select", "$format"):
            raise bad(f"{name} does not apply to a single entity")
    table, leading = await source_of(request, principal, entity_set)
    filtered = {**options, "$filter": f"{entity_set.key} eq {key}"}
    query = parse_query(entity_set, filtered, max_top=1, leading=leading)
    sql, params = to_sql(entity_set, table, query, 1, 0)
    rows = await run_sql(request, sql, params, "rows")
    if not rows:
        raise GatewayError(ErrorKind.NOT_FOUND, f"no {entity_set.type_name} with that key")
    body = {"@odata.context": f"{service_root(request)}$metadata#{entity_set.name}/$entity"}
    body.update({p.name: json_value(rows[0][i]) for i, p in enumerate(query.select)})
    return json_response(body)


def _text(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is not None and not isinstance(value, str):
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{name} must be a string")
    return value


async def create_event(request: Request, principal: Principal) -> Response:
    """POST /odata/Events: publish. The entity answered is the event as written to the outbox
    (it shows in the log, with its Kafka position, once the relay and the feeder moved it)."""
    if request.path_params["set"] == "Purge":
        return await purge(request, principal)
    entity_set = entity_set_of(request)
    if target_of(request)[1] is not None:
        raise GatewayError(ErrorKind.BAD_REQUEST, "POST to the entity set, not to an entity")
    if entity_set is not EVENTS:
        raise GatewayError(ErrorKind.BAD_REQUEST, f"{entity_set.name} cannot be created")
    body = await read_body(request)
    doc = parse_json(body)
    if not isinstance(doc, dict):
        raise GatewayError(ErrorKind.BAD_REQUEST, "the body must be an Event as a JSON object")
    doc = {k: v for k, v in doc.items() if "@" not in k}  # @odata.type and other annotations
    for name, value in doc.items():
        if EVENTS.find(name) is None:
            raise GatewayError(ErrorKind.BAD_REQUEST, f"Event has no property {name!r}")
        if name not in _WRITABLE and value is not None:
            raise GatewayError(ErrorKind.BAD_REQUEST, f"{name} is set by the event log")
    event_type = _text(doc, "Type")
    if not event_type:
        raise GatewayError(ErrorKind.BAD_REQUEST, "Type (the event type) is required")
    data = doc.get("Data")
    if isinstance(data, str):  # Data is Edm.String in the model: JSON text
        data = parse_json(data.encode(), "Data")
    event_id = check_id(_text(doc, "Id") or new_event_id(), "/Id")
    moment = datetime.now(UTC)
    if (time_text := _text(doc, "Time")) is not None:
        try:
            moment = datetime.fromisoformat(time_text)
        except ValueError:
            raise GatewayError(ErrorKind.BAD_REQUEST, "Time is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            raise GatewayError(ErrorKind.BAD_REQUEST, "Time needs a time zone (Z or +hh:mm)")
    incoming = IncomingEvent(
        type=event_type,
        data=data,
        id=event_id,
        source=_text(doc, "Source"),
        time=moment,
        subject=_text(doc, "Subject"),
        dataschema=_text(doc, "DataSchema"),
        key=_text(doc, "PartitionKey"),
    )
    gateway = gateway_of(request)
    result = await gateway.publish(principal, [incoming], idempotency_of(request, body))
    contract = (await gateway.contracts.current()).get(event_type)
    key = incoming.key if incoming.key is not None else contract.key_of(data)
    root = service_root(request)
    entity_id = result.ids[0]
    created = {
        "@odata.context": f"{root}$metadata#Events/$entity",
        "Id": entity_id,
        "Type": event_type,
        "Source": contract.source,
        "Subject": incoming.subject,
        "Time": json_value(moment),
        "PartitionKey": key,
        "DataSchema": contract.dataschema,
        "DataContentType": "application/json",
        "Data": json.dumps(data, separators=(",", ":")),
        "Topic": contract.topic,
        "KafkaPartition": None,
        "KafkaOffset": None,
    }
    location = f"{root}Events('{entity_id}')"
    return json_response(created, 201, Location=location)


def letter_store(request: Request) -> DeadLetterStore:
    return DeadLetterStore(gateway_of(request).pool, dlq_schema(request))


async def replay(request: Request, principal: Principal) -> Response:
    """POST /odata/DeadLetters(42)/BizEvents.Replay: the letter goes to its group's replay
    topic (the SDK's replay: marked replayed once Kafka acknowledged it)."""
    entity_set = entity_set_of(request)
    operation = request.path_params["operation"]
    if entity_set is not DEAD_LETTERS or operation not in ("Replay", f"{NAMESPACE}.Replay"):
        raise GatewayError(
            ErrorKind.NOT_FOUND, f"no action {operation[:60]!r} bound to {entity_set.name}"
        )
    gateway = gateway_of(request)
    gateway.require_admin(principal)
    letter_id = int(key_literal(request, entity_set))
    async with gateway.connection() as conn:
        found = await conn.fetchval(
            f"SELECT status FROM {dlq_schema(request)}.dead_letters WHERE id = $1", letter_id
        )
    if found is None:
        raise GatewayError(ErrorKind.NOT_FOUND, f"no dead letter {letter_id}")
    if found != "dead":
        raise GatewayError(ErrorKind.CONFLICT, f"dead letter {letter_id} is {found}, not dead")
    broker = request.app.state.settings
    settings = DeadLetterSettings(**broker.connection_values(), dlq_schema=dlq_schema(request))
    try:
        result = await replay_letters(
            letter_store(request), DeadLetterFilter(ids=(letter_id,)), settings
        )
    except (KafkaError, OSError) as exc:
        raise GatewayError(ErrorKind.UNAVAILABLE, "Kafka is not reachable; retry later") from exc
    return json_response(
        {
            "@odata.context": f"{service_root(request)}$metadata#{NAMESPACE}.ReplayResult",
            "Replayed": result.replayed,
            "Skipped": result.skipped,
        }
    )


async def purge(request: Request, principal: Principal) -> Response:
    """POST /odata/Purge: soft-purge the dead letters matching every parameter given (at least
    one, so a bare call cannot purge everything)."""
    gateway_of(request).require_admin(principal)
    doc = parse_json(await read_body(request))
    if not isinstance(doc, dict):
        raise GatewayError(ErrorKind.BAD_REQUEST, "Purge takes a JSON object of parameters")
    unknown = set(doc) - {"Group", "EventType", "Until"}
    if unknown:
        raise GatewayError(ErrorKind.BAD_REQUEST, f"Purge has no parameter {sorted(unknown)[0]!r}")
    group, event_type, until_text = (_text(doc, n) for n in ("Group", "EventType", "Until"))
    if not (group or event_type or until_text):
        raise GatewayError(ErrorKind.BAD_REQUEST, "give Group, EventType or Until (or several)")
    until = None
    if until_text:
        try:
            until = datetime.fromisoformat(until_text)
        except ValueError:
            raise GatewayError(
                ErrorKind.BAD_REQUEST, "Until is not an ISO 8601 date-time"
            ) from None
        if until.tzinfo is None:
            raise GatewayError(ErrorKind.BAD_REQUEST, "Until needs a time zone (Z or +hh:mm)")
    selection = DeadLetterFilter(
        groups=(group,) if group else (), types=(event_type,) if event_type else (), until=until
    )
    try:
        purged = await letter_store(request).purge(selection)
    except (OSError, asyncpg.PostgresConnectionError) as exc:
        raise GatewayError(ErrorKind.UNAVAILABLE, "the database is not reachable") from exc
    root = service_root(request)
    return json_response({"@odata.context": f"{root}$metadata#Edm.Int64", "value": purged})


async def root_redirect(request: Request) -> Response:
    return Response(status_code=307, headers={"Location": service_root(request)})


routes = [
    Route("/odata", root_redirect, methods=["GET"]),
    Route("/odata/", odata(service_document), methods=["GET"], name="odata_root"),
    Route("/odata/$metadata", odata(metadata), methods=["GET"]),
    Route("/odata/{set:str}/$count", odata(count), methods=["GET"]),
    Route("/odata/{set:str}", odata(read), methods=["GET"]),
    Route("/odata/{set:str}", odata(create_event), methods=["POST"]),
    Route("/odata/{set:str}/{operation:str}", odata(replay), methods=["POST"]),
]
