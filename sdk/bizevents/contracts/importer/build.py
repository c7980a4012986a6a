"""Neutral messages -> one bizevents contract document (AsyncAPI 3.0.0 with `x-bizevents-*`).

Pure. Every default it fills in is recorded as an Assumption, so the user can review them in
the command's output (and in the comment block at the top of the written file).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ...errors import ContractError, Problem
from ..extensions import APP_NAME, FOREVER, MENDIX_CHANNEL
from ..mendix import attributes as mendix_attributes
from ..refs import ANNOTATIONS, join
from .read import FoundMessage
from .schema import SchemaRefused, to_2020_12

TARGET_VERSION = "3.0.0"
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)")
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_ILLEGAL_TOPIC = re.compile(r"[^a-zA-Z0-9._-]")
_JSON_FORMATS = ("application/vnd.aai.asyncapi", "application/schema+json")


@dataclass(frozen=True)
class ImportOptions:
    service: str | None = None  # --as
    owner: str | None = None
    namespace: str | None = None  # reverse-DNS prefix of the CloudEvents types
    params: Mapping[str, str] = field(default_factory=dict)  # channel parameter values
    mesh: str = "bizevents"  # "mendix": a Mendix Business Events export (see bizevents.mesh)


@dataclass(frozen=True)
class Assumption:
    text: str
    event: str | None = None  # None: about the whole document

    def __str__(self) -> str:
        return f"{self.event}: {self.text}" if self.event else self.text


@dataclass
class Built:
    service: str
    document: dict[str, Any]
    assumptions: list[Assumption]
    skipped: list[Problem]
    events: list[str]


def pascal(text: str) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", text) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts)
    return name if name[:1].isalpha() else f"E{name}"


def _camel(text: str) -> str:
    name = pascal(text)
    return name[0].lower() + name[1:]


def slug(text: str) -> str:
    value = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if value and not value[0].isalpha():
        value = f"app-{value}"
    return value[:63].rstrip("-")


def _segment(text: str) -> str:
    value = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return value if value[:1].isalpha() else f"x{value}" if value else ""


def _reverse_host(host: str) -> list[str]:
    parts = [p for p in host.lower().split(".") if p and p != "www"]
    return list(reversed(parts))


def _retention_text(ms: int) -> str:
    if ms < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0 and ms // size < 10_000_000:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


_TITLE = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")


def _base_name(item: FoundMessage) -> str:
    """The message's name; else its payload's title when that names a model (code generators
    such as FastStream's title the payload with the model class and the message with its
    channel); else its component or channel-local id; else the channel."""
    name = item.message.get("name")
    if isinstance(name, str) and name:
        return name
    payload = _obj(item.message.get("payload"))
    title = _obj(payload.get("schema")).get("title") or payload.get("title")
    if isinstance(title, str) and _TITLE.match(title):
        return title
    return item.component or item.local_id or item.channel_id


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _object_like(schema: dict[str, Any]) -> bool:
    if "properties" in schema:
        return True
    branches = schema.get("oneOf") or schema.get("anyOf")
    return (
        isinstance(branches, list)
        and bool(branches)
        and all(isinstance(b, dict) and b.get("type") == "object" for b in branches)
    )


def _strip_annotations(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {
            k: _strip_annotations(v)
            for k, v in schema.items()
            if k not in ANNOTATIONS and k != "examples" and not k.startswith("x-")
        }
    if isinstance(schema, list):
        return [_strip_annotations(v) for v in schema]
    return schema


class Builder:
    def __init__(self, source_file: str, version: str, doc: dict[str, Any], options: ImportOptions):
        self.source_file = source_file
        self.version = version
        self.doc = doc
        self.options = options
        self.assumptions: list[Assumption] = []
        self.skipped: list[Problem] = []

    def note(self, text: str, event: str | None = None) -> None:
        self.assumptions.append(Assumption(text, event))

    # -- the document as a whole --------------------------------------------------------------
    def service(self) -> str:
        info = _obj(self.doc.get("info"))
        if self.options.service is not None:
            name = self.options.service
            if not APP_NAME.match(name):
                raise ContractError(
                    "invalid --as",
                    [
                        Problem(
                            f"service name {name!r} must match {APP_NAME.pattern}", rule="service"
                        )
                    ],
                )
            return name
        title = str(info.get("title") or "")
        name = slug(title)
        if not APP_NAME.match(name):
            raise ContractError(
                f"cannot name the service of {self.source_file}",
                [
                    Problem(
                        f"info.title {title!r} gives no usable app name: pass --as SERVICE",
                        "/info/title",
                        self.source_file,
                        "service",
                    )
                ],
            )
        self.note(f"service name {name!r} made from info.title {title!r} (--as to choose)")
        return name

    def namespace(self, service: str) -> str:
        if self.options.namespace:
            parts = [_segment(p) for p in self.options.namespace.split(".")]
            if not all(parts):
                raise ContractError(
                    "invalid --namespace",
                    [
                        Problem(
                            f"{self.options.namespace!r} must be reverse-DNS like com.acme.crm",
                            rule="namespace",
                        )
                    ],
                )
            return ".".join(parts)
        origin, parts = self._namespace_parts()
        parts = [s for s in (_segment(p) for p in parts) if s]
        fallback = "mendix" if self.options.mesh == "mendix" else "imported"
        namespace = ".".join([*parts, _segment(service)] if parts else [fallback, service])
        self.note(
            f"CloudEvents types start with {namespace!r}, from {origin} (--namespace to choose)"
        )
        return namespace

    def _namespace_parts(self) -> tuple[str, list[str]]:
        doc_id = self.doc.get("id")
        if isinstance(doc_id, str) and doc_id.startswith("urn:"):
            return "the document id", doc_id.split(":")[1:3]
        if isinstance(doc_id, str) and urlparse(doc_id).hostname:
            return "the document id", _reverse_host(urlparse(doc_id).hostname or "")
        info = _obj(self.doc.get("info"))
        contact = _obj(info.get("contact"))
        email = contact.get("email")
        if isinstance(email, str) and "@" in email:
            return "the contact e-mail domain", _reverse_host(email.rsplit("@", 1)[1])
        url = contact.get("url")
        if isinstance(url, str) and urlparse(url).hostname:
            return "the contact URL", _reverse_host(urlparse(url).hostname or "")
        return "no domain in the document", []

    def doc_version(self) -> tuple[str, int]:
        info = _obj(self.doc.get("info"))
        raw = str(info.get("version") or "")
        match = _SEMVER.match(raw)
        if match is None:
            self.note(f"info.version {raw!r} is not semantic: the contract is version 1.0.0")
            return "1.0.0", 1
        major = int(match.group(1))
        if major == 0:
            self.note(f"info.version {raw!r} has major version 0: event types end in .v1")
        return match.group(0), max(major, 1)

    # -- one message ----------------------------------------------------------------------------
    def payload(self, item: FoundMessage) -> dict[str, Any] | None:
        message = item.message
        payload = message.get("payload")
        fmt = message.get("schemaFormat")  # 2.x: on the message
        if isinstance(payload, dict) and "schemaFormat" in payload and "schema" in payload:
            fmt, payload = payload["schemaFormat"], payload["schema"]  # 3.x multi-format schema
        where = join(item.pointer, "payload")
        if isinstance(fmt, str) and not fmt.startswith(_JSON_FORMATS):
            self.skip(
                item,
                f"payload schemaFormat {fmt!r} cannot be imported (JSON Schema and "
                "AsyncAPI Schema only)",
                where,
            )
            return None
        if item.problems:
            for problem in item.problems:
                self.skipped.append(problem)
            return None
        if payload is None:
            self.skip(item, "the message has no payload schema", where)
            return None
        try:
            schema = to_2020_12(payload, where)
        except SchemaRefused as exc:
            self.skip(item, str(exc), exc.pointer)
            return None
        if not isinstance(schema, dict):
            self.skip(item, "the payload schema is not an object schema", where)
            return None
        if schema.get("type") != "object":
            if "type" not in schema and _object_like(schema):
                schema = {"type": "object", **schema}
                self.note(
                    "payload has properties or object branches but no type: taken as type object",
                    self._label(item),
                )
            else:
                kind = schema.get("type", "untyped")
                self.skip(
                    item,
                    f"the payload is {kind!r}, not an object: bizevents events carry JSON objects",
                    where,
                )
                return None
        if self.options.mesh == "mendix":
            mapped, refused = mendix_attributes(schema)
            if refused:
                for why in refused:
                    self.skip(item, f"Mendix {why}", where)
                return None
            if any(
                t == "Long" and "format" not in _obj(schema["properties"].get(n))
                for n, t in mapped.items()
            ):
                self.note(
                    "integer attributes without a format are taken as Long (int64)",
                    self._label(item),
                )
        return schema

    def skip(self, item: FoundMessage, why: str, pointer: str) -> None:
        self.skipped.append(
            Problem(f"message {self._label(item)} skipped: {why}", pointer, item.file, "import")
        )

    @staticmethod
    def _label(item: FoundMessage) -> str:
        name = item.message.get("name") or item.local_id or item.component or "?"
        return f"{name!r} of channel {item.channel_id!r}"

    def topic(self, item: FoundMessage, event: str) -> str:
        if self.options.mesh == "mendix":
            # The channel key is Mendix's channel id; the topic is built from it at run time.
            return item.channel_id
        bound = item.channel_kafka.get("topic")
        if isinstance(bound, str) and bound:
            self.note(f"topic {bound!r} from the channel's Kafka binding", event)
            return bound
        if not item.address_known:
            self.note(
                f"channel {item.channel_id!r} has no address (set at run time): topic "
                f"{item.channel_id!r} is its id; change the channel address if that is wrong",
                event,
            )
            return self._legal(item.channel_id, event)
        address = item.address or item.channel_id
        for name in _PLACEHOLDER.findall(address):
            param = _obj(item.parameters.get(name))
            if isinstance(param.get("schema"), dict):  # 2.x: default and enum live in the schema
                param = {**param["schema"], **param}
            value = self.options.params.get(name)
            how = "given with --param"
            if value is None and isinstance(param.get("default"), str):
                value, how = param["default"], "the parameter's default"
            elif value is None and isinstance(param.get("enum"), list) and len(param["enum"]) == 1:
                value, how = str(param["enum"][0]), "the parameter's only allowed value"
            if value is None:
                # Entity ids in topic names (a topic per streetlight) are not how Kafka is used:
                # they belong in the key. Drop the segment with one neighbouring separator.
                address = re.sub(
                    rf"[./_-]?\{{{re.escape(name)}\}}|\{{{re.escape(name)}\}}[./_-]?",
                    "",
                    address,
                    count=1,
                )
                self.note(
                    f"channel parameter {name!r} is left out of the topic (a Kafka topic "
                    f"is one fixed name; --param {name}=VALUE to put a value in)",
                    event,
                )
            else:
                address = address.replace("{" + name + "}", value)
                self.note(f"channel parameter {name!r} = {value!r} ({how})", event)
        return self._legal(address, event)

    def _legal(self, topic: str, event: str) -> str:
        legal = _ILLEGAL_TOPIC.sub(".", topic.strip("/")).strip(".")[:249]
        if legal != topic:
            self.note(f"address {topic!r} is not a legal Kafka topic name: topic {legal!r}", event)
        return legal

    def key(self, item: FoundMessage, schema: dict[str, Any], event: str) -> str | None:
        bindings = _obj(item.message.get("bindings"))
        kafka = _obj(bindings.get("kafka"))
        key_schema = kafka.get("key")
        if key_schema is None:
            self.note(
                "no Kafka key in the document: no key field (no per-key order); set "
                "x-bizevents-key to a required payload field to get one",
                event,
            )
            return None
        wanted = _strip_annotations(key_schema)
        required = _items(schema.get("required"))
        props = _obj(schema.get("properties"))
        for name in required:
            prop = props.get(name)
            if (
                isinstance(prop, dict)
                and _strip_annotations(prop) == wanted
                and prop.get("type") in ("string", "integer")
            ):
                self.note(
                    f"key field {name!r}: the payload field with the Kafka key's schema", event
                )
                return str(name)
        self.note(
            f"the Kafka key's schema {key_schema!r} matches no required string/integer "
            "payload field: no key field (set x-bizevents-key if one fits)",
            event,
        )
        return None

    def retention(self, item: FoundMessage, event: str) -> str | None:
        config = item.channel_kafka.get("topicConfiguration")
        value = config.get("retention.ms") if isinstance(config, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or (value < 1 and value != -1):
            return None
        text = _retention_text(FOREVER if value == -1 else value)
        self.note(f"retention {text} from the Kafka binding's retention.ms {value}", event)
        return text

    # -- names ----------------------------------------------------------------------------------
    def names(self, items: list[FoundMessage]) -> list[str]:
        """An event name per message, unique in the document."""
        first = [pascal(_base_name(i)) for i in items]
        counts = Counter(first)
        names = []
        for item, name in zip(items, first, strict=True):
            if counts[name] > 1:
                alt = item.local_id or (
                    item.operation_ids[0] if len(item.operation_ids) == 1 else ""
                )
                name = pascal(alt) if alt and alt != name else pascal(f"{item.channel_id} {name}")
            names.append(name)
        taken: Counter[str] = Counter()
        unique = []
        for name in names:
            taken[name] += 1
            unique.append(name if taken[name] == 1 else f"{name}{taken[name]}")
        return unique


def build(
    source_file: str,
    version: str,
    doc: dict[str, Any],
    items: list[FoundMessage],
    options: ImportOptions,
) -> Built:
    b = Builder(source_file, version, doc, options)
    service = b.service()
    namespace = b.namespace(service)
    doc_version, major = b.doc_version()
    info = _obj(doc.get("info"))
    owner = options.owner or service
    if options.owner is None:
        b.note(f"owner {owner!r} is the service itself (--owner to choose)")
    doc_id = doc.get("id")
    source = doc_id if isinstance(doc_id, str) and doc_id else f"/{service}"
    b.note(f"CloudEvents source {source!r}" + (" (the document id)" if source == doc_id else ""))
    b.note(
        "every event keeps compatibility mode BACKWARD and the broker's default retention "
        "unless the document says otherwise"
    )
    mendix = options.mesh == "mendix"
    if mendix:
        b.note(
            "Mendix mesh: topics businessevents.<channel id>.<BIZEVENTS_SPACE> (with "
            "BIZEVENTS_MENDIX_TOPIC_PREFIX in front when set), ce_type = the event's Mendix name, "
            "ce_sourcename = the publishing service; records without ce_sourcename are "
            "dead-lettered"
        )
        b.note("Mendix documents no Kafka key for business events: no key field (no per-key order)")
    else:
        b.note(
            "peers are expected to send CloudEvents (Kafka binary or structured mode); records "
            "without ce_ headers are dead-lettered as 'not a CloudEvent'"
        )

    if mendix:
        for item in items:
            if not MENDIX_CHANNEL.match(item.channel_id):
                item.problems.append(
                    Problem(
                        f"channel {item.channel_id!r} is not a Mendix channel id (a UUID)",
                        join("/channels", item.channel_id),
                        source_file,
                        "import",
                    )
                )
    ready = [(item, schema) for item in items if (schema := b.payload(item)) is not None]
    names = b.names([item for item, _ in ready])
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    events = []
    for (item, schema), name in zip(ready, names, strict=True):
        event_type = f"{namespace}.{name}.v{major}"
        events.append(event_type)
        channel_id = _camel(name)
        channel: dict[str, Any] = {"address": b.topic(item, event_type)}
        description = item.message.get("description") or item.channel_description
        if description:
            channel["description"] = str(description)
        channel["x-bizevents-type"] = event_type
        key = None if mendix else b.key(item, schema, event_type)
        if key is not None:
            channel["x-bizevents-key"] = key
        retention = b.retention(item, event_type)
        if retention is not None:
            channel["x-bizevents-retention"] = retention
        actions = item.actions
        if not actions:
            actions = {"send"}
            b.note("no operation uses this message: taken as published by the service", event_type)
        if "send" in actions:
            channel["x-bizevents-publishers"] = [service]
        else:
            channel["x-bizevents-publishers"] = []
            b.note(
                "the service receives it and the document names no sender: any app may "
                "publish it (x-bizevents-publishers: [])",
                event_type,
            )
        channel["messages"] = {name: {"$ref": f"#/components/messages/{name}"}}
        channels[channel_id] = channel
        for action in sorted(actions):
            operations[f"{action}{name}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
            }
        # In the Mendix mesh the message name is the event's name on the wire (ce_type).
        wire = item.message.get("name")
        message: dict[str, Any] = {"name": str(wire) if mendix and wire else name}
        for field_name in ("title", "summary", "description", "contentType"):
            if isinstance(item.message.get(field_name), str):
                message[field_name] = item.message[field_name]
        headers = item.message.get("headers")
        if isinstance(headers, dict) and headers:
            try:
                message["headers"] = to_2020_12(headers)
                b.note(
                    "the message's headers are kept as documentation; bizevents records carry "
                    "CloudEvents ce_ headers and do not check others",
                    event_type,
                )
            except SchemaRefused:
                b.note(
                    "the message's headers schema could not be carried over: left out", event_type
                )
        message["payload"] = {"$ref": f"#/components/schemas/{name}Payload"}
        messages[name] = message
        schemas[f"{name}Payload"] = schema
    if not channels:
        raise ContractError(
            f"nothing to import from {source_file}",
            b.skipped
            or [Problem("the document declares no messages", "/channels", source_file, "import")],
        )
    title = str(info.get("title") or service)
    description = f"Imported from {source_file} ({title}, AsyncAPI {version})."
    if isinstance(info.get("description"), str):
        description += "\n\n" + info["description"].strip()
    document = {
        "asyncapi": TARGET_VERSION,
        "info": {
            "title": service,
            "version": doc_version,
            "description": description,
            "x-bizevents-owner": owner,
            "x-bizevents-source": source,
            **({"x-bizevents-mesh": "mendix"} if mendix else {}),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
    return Built(service, document, b.assumptions, b.skipped, events)
