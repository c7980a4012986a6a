"""AsyncAPI 2.0-2.6 and 3.0-3.1 documents -> one neutral list of messages per channel.

Everything is inlined here (messages, traits, parameters, bindings), each part from its own file,
so later steps see plain data. Direction is always the described application's: "send" (it
publishes) or "receive" (it consumes). In 2.x that is inverted from the operation names, as the
2.x specification says: a `subscribe` operation means the application sends, `publish` that it
receives.

Message traits are merged as each version's parser does: in 2.x a trait's fields override the
message's (JSON Merge Patch of the trait onto the message, in order); in 3.x the message's own
fields win over its traits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import Problem
from ..refs import RefError, join
from .source import Source

SUPPORTED = re.compile(r"^(2\.[0-6]|3\.[01])\.\d+$")


@dataclass
class FoundMessage:
    """One message of one channel, with everything it needs inlined."""

    channel_id: str
    address: str | None
    address_known: bool  # False when a 3.x address is null/absent (set at runtime)
    parameters: dict[str, Any]
    channel_kafka: dict[str, Any]
    channel_description: str
    message: dict[str, Any]  # traits applied, refs inlined
    file: str
    pointer: str
    component: str | None = None  # its name under components/messages, when referenced there
    local_id: str | None = None  # 3.x: its key in the channel's messages
    operation_ids: list[str] = field(default_factory=list)
    actions: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)  # why it cannot be imported


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _component_name(ref: Any) -> str | None:
    if isinstance(ref, dict) and isinstance(ref.get("$ref"), str):
        _, _, fragment = ref["$ref"].partition("#")
        parts = fragment.split("/")
        if len(parts) == 4 and parts[1] == "components" and parts[2] == "messages":
            return str(parts[3])
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Reader:
    def __init__(self, source: Source) -> None:
        self.src = source
        self.file = source.file
        self.doc: dict[str, Any] = source.document
        self.problems: list[Problem] = []

    def read(self) -> list[FoundMessage]:
        raise NotImplementedError

    def inline(self, file: str, pointer: str, value: Any) -> tuple[Any, list[Problem]]:
        return self.src.inline(file, pointer, value)

    def follow(self, file: str, pointer: str, value: Any) -> tuple[str, str, Any] | None:
        try:
            return self.src.follow(file, pointer, value)
        except RefError as exc:
            self.problems.append(Problem(str(exc), pointer, file, "ref"))
            return None

    def message(
        self, file: str, pointer: str, raw: Any, trait_wins: bool
    ) -> tuple[dict[str, Any], str, str, list[Problem]]:
        """A message with its traits applied and every ref inlined."""
        followed = self.follow(file, pointer, raw)
        if followed is None:
            return {}, file, pointer, [self.problems.pop()]
        mfile, mpointer, message = followed
        if not isinstance(message, dict):
            return {}, mfile, mpointer, [Problem("a message must be an object", mpointer, mfile)]
        body = {k: v for k, v in message.items() if k != "traits"}
        inlined, problems = self.inline(mfile, mpointer, body)
        traits = message.get("traits") or []
        for i, trait in enumerate(traits if isinstance(traits, list) else []):
            value, trait_problems = self.inline(mfile, join(mpointer, "traits", i), trait)
            problems.extend(trait_problems)
            if isinstance(value, list):  # 2.0's [trait, args] form: the trait is the first item
                value = value[0] if value else {}
            inlined = merge_patch(inlined, value) if trait_wins else merge_patch(value, inlined)
        return _dict(inlined), mfile, mpointer, problems

    def channel_parts(
        self, file: str, pointer: str, channel: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        params, _ = self.inline(file, join(pointer, "parameters"), channel.get("parameters") or {})
        bindings, _ = self.inline(file, join(pointer, "bindings"), channel.get("bindings") or {})
        return _dict(params), _dict(_dict(bindings).get("kafka"))


class _V2(_Reader):
    def read(self) -> list[FoundMessage]:
        found: list[FoundMessage] = []
        for name, raw in _dict(self.doc.get("channels")).items():
            followed = self.follow(self.file, join("/channels", name), raw)
            if followed is None:
                continue
            cfile, cpointer, channel = followed
            if not isinstance(channel, dict):
                continue
            params, kafka = self.channel_parts(cfile, cpointer, channel)
            for verb, action in (("subscribe", "send"), ("publish", "receive")):
                operation = channel.get(verb)
                if not isinstance(operation, dict):
                    continue
                opointer = join(cpointer, verb)
                raw_message = operation.get("message")
                followed_message = self.follow(cfile, join(opointer, "message"), raw_message)
                if followed_message is None:
                    continue
                mfile, mpointer, message = followed_message
                candidates: list[tuple[str, str, Any]]
                if isinstance(message, dict) and isinstance(message.get("oneOf"), list):
                    candidates = [
                        (mfile, join(mpointer, "oneOf", i), m)
                        for i, m in enumerate(message["oneOf"])
                    ]
                else:
                    candidates = [(cfile, join(opointer, "message"), raw_message)]
                op_id = operation.get("operationId")
                for file, pointer, raw_candidate in candidates:
                    body, bfile, bpointer, problems = self.message(
                        file, pointer, raw_candidate, trait_wins=True
                    )
                    found.append(
                        FoundMessage(
                            channel_id=name,
                            address=name,
                            address_known=True,
                            parameters=params,
                            channel_kafka=kafka,
                            channel_description=str(channel.get("description") or ""),
                            message=body,
                            file=bfile,
                            pointer=bpointer,
                            component=_component_name(raw_candidate),
                            operation_ids=[op_id] if isinstance(op_id, str) else [],
                            actions={action},
                            problems=problems,
                        )
                    )
        return _merge_same(found)


class _V3(_Reader):
    def read(self) -> list[FoundMessage]:
        found: dict[tuple[str, str], FoundMessage] = {}
        channel_at: dict[tuple[str, str], str] = {}
        for cid, raw in _dict(self.doc.get("channels")).items():
            followed = self.follow(self.file, join("/channels", cid), raw)
            if followed is None:
                continue
            cfile, cpointer, channel = followed
            channel_at[(self.file, join("/channels", cid))] = cid
            channel_at[(cfile, cpointer)] = cid
            if not isinstance(channel, dict):
                continue
            params, kafka = self.channel_parts(cfile, cpointer, channel)
            address = channel.get("address")
            for local, raw_message in _dict(channel.get("messages")).items():
                body, mfile, mpointer, problems = self.message(
                    cfile, join(cpointer, "messages", local), raw_message, trait_wins=False
                )
                found[(cid, local)] = FoundMessage(
                    channel_id=cid,
                    address=address if isinstance(address, str) else None,
                    address_known=isinstance(address, str),
                    parameters=params,
                    channel_kafka=kafka,
                    channel_description=str(channel.get("description") or ""),
                    message=body,
                    file=mfile,
                    pointer=mpointer,
                    component=_component_name(raw_message),
                    local_id=local,
                    problems=problems,
                )
        for op_id, raw_op in _dict(self.doc.get("operations")).items():
            followed = self.follow(self.file, join("/operations", op_id), raw_op)
            if followed is None:
                continue
            ofile, _, operation = followed
            if not isinstance(operation, dict) or operation.get("action") not in (
                "send",
                "receive",
            ):
                continue
            target = self._channel_of(ofile, operation.get("channel"), channel_at)
            if target is None:
                continue
            locals_ = [
                ref["$ref"].rsplit("/", 1)[-1]
                for ref in operation.get("messages") or []
                if isinstance(ref, dict) and isinstance(ref.get("$ref"), str)
            ] or [local for (cid, local) in found if cid == target]
            for local in locals_:
                item = found.get((target, local.replace("~1", "/").replace("~0", "~")))
                if item is not None:
                    item.actions.add(str(operation["action"]))
                    item.operation_ids.append(op_id)
        return list(found.values())

    def _channel_of(
        self, file: str, ref: Any, channel_at: dict[tuple[str, str], str]
    ) -> str | None:
        if not isinstance(ref, dict) or not isinstance(ref.get("$ref"), str):
            return None
        try:
            target_file, pointer, _ = self.src.resolver.lookup(file, ref["$ref"])
        except RefError:
            return None
        return channel_at.get((target_file, pointer))


def _merge_same(found: list[FoundMessage]) -> list[FoundMessage]:
    """A 2.x channel may both send and receive the same message: one entry with both actions."""
    merged: dict[tuple[str, str, str], FoundMessage] = {}
    for item in found:
        key = (item.channel_id, item.file, item.pointer)
        if key in merged:
            merged[key].actions |= item.actions
            merged[key].operation_ids += item.operation_ids
        else:
            merged[key] = item
    return list(merged.values())


def read_messages(source: Source) -> tuple[str, list[FoundMessage], list[Problem]]:
    """(AsyncAPI version, messages, document-level problems)."""
    doc = source.document
    if not isinstance(doc, dict) or "asyncapi" not in doc:
        return (
            "",
            [],
            [
                Problem(
                    "not an AsyncAPI document (no top-level 'asyncapi' key)",
                    file=source.file,
                    rule="asyncapi",
                )
            ],
        )
    version = str(doc["asyncapi"])
    if not SUPPORTED.match(version):
        return (
            version,
            [],
            [
                Problem(
                    f"AsyncAPI version {version!r} is not supported: import reads 2.0-2.6 and "
                    "3.0-3.1 documents",
                    "/asyncapi",
                    source.file,
                    "asyncapi-version",
                )
            ],
        )
    reader: _Reader = _V2(source) if version.startswith("2.") else _V3(source)
    messages = reader.read()
    return version, messages, reader.problems
