"""Load a contracts folder (or one file, or in-memory texts) into a ContractSet.

Every check runs and every problem is collected; ContractError lists them all at once:
YAML syntax and hostile-input limits, AsyncAPI 3.0 structure, `$ref`s, our extensions, payload
schemas (draft 2020-12 meta-schema), unique event types across files.
Files without a top-level `asyncapi` key are shared fragments: only read through `$ref`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from ..errors import ContractError, Problem
from . import extensions as ext
from . import schemalint
from .asyncapi import structure_problems
from .mendix import attributes as mendix_attributes
from .model import ContractSet, EventContract, ServiceDocument
from .positions import locate
from .refs import RefError, Resolver, join, split_pointer
from .wording import explain
from .yamlsafe import Limits, parse_yaml, read_text

SUFFIXES = (".yaml", ".yml")
MAX_FILES = 500
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
_META = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=FormatChecker())
# A fixed, absolute stand-in root for in-memory documents: only used to normalise ref paths.
_MEMORY_ROOT = Path("/bizevents-contracts")


def load_contracts(path: str | Path | None = None, *, limits: Limits | None = None) -> ContractSet:
    """Load `path` (a folder of *.yaml/*.yml, or one file; default: settings.contracts_path)."""
    if path is None:
        from .settings import ContractsSettings

        path = ContractsSettings().contracts_path
    path = Path(path)
    limits = limits or Limits()
    escaping: list[Problem] = []
    if path.is_dir():
        root = path
        names = []
        for entry in sorted(path.iterdir()):
            if entry.suffix not in SUFFIXES or not entry.is_file():
                continue
            if not entry.resolve().is_relative_to(root.resolve()):
                escaping.append(
                    Problem(
                        "symlink to a file outside the contracts folder", file=entry.name, rule="io"
                    )
                )
                continue
            names.append(entry.name)
        if escaping:
            raise ContractError(f"invalid contracts in {path}", escaping)
    elif path.is_file():
        root, names = path.parent, [path.name]
    else:
        raise ContractError(
            f"cannot load contracts from {path}",
            [Problem("no such file or folder", file=str(path), rule="io")],
        )

    def read(name: str) -> tuple[str | None, Problem | None]:
        return read_text(root / name, name, limits)

    return _Loader(root, names, read, limits, explicit=path.is_file()).run(str(path))


def load_contract_texts(texts: Mapping[str, str], *, limits: Limits | None = None) -> ContractSet:
    """Load documents given as {relative file name: YAML text} (e.g. read from the registry or
    from `git show`); `$ref`s between them resolve by those names."""
    limits = limits or Limits()

    def read(name: str) -> tuple[str | None, Problem | None]:
        if name not in texts:
            return None, Problem("no such file", file=name, rule="io")
        return texts[name], None

    names = sorted(n for n in texts if n.endswith(SUFFIXES) and "/" not in n)
    return _Loader(_MEMORY_ROOT, names, read, limits, explicit=False).run("<memory>")


class _Loader:
    def __init__(
        self,
        root: Path,
        names: list[str],
        read: Callable[[str], tuple[str | None, Problem | None]],
        limits: Limits,
        *,
        explicit: bool,
    ) -> None:
        self.root = root
        self.names = names
        self.read = read
        self.limits = limits
        self.explicit = explicit
        self.problems: list[Problem] = []
        # Advice that does not make a contract invalid (e.g. open payload schemas).
        self.notes: list[Problem] = []
        self.parsed: set[str] = set()
        self.texts: dict[str, str] = {}
        self.resolver = Resolver(root, {}, self._load_fragment, limits.max_nodes)

    def _parse(self, name: str) -> Any:
        text, problem = self.read(name)
        if problem is not None or text is None:
            self.problems.append(problem or Problem("unreadable", file=name, rule="io"))
            return None
        self.texts[name] = text
        data, problems = parse_yaml(text, name, self.limits)
        self.problems.extend(problems)
        if not problems:
            self.parsed.add(name)  # safe to compose again for line numbers
        return data

    def _load_fragment(self, name: str) -> Any:
        if PurePosixPath(name).suffix not in (*SUFFIXES, ".json"):
            raise RefError(f"$ref to {name!r}: only .yaml, .yml and .json files can be referenced")
        if len(self.texts) >= MAX_FILES:
            raise RefError(f"$ref to {name!r}: more than {MAX_FILES} files referenced")
        before = len(self.problems)
        data = self._parse(name)
        if len(self.problems) > before:
            raise RefError(f"$ref to {name!r}: that file has problems (listed separately)")
        return data

    def run(self, label: str) -> ContractSet:
        if len(self.names) > MAX_FILES:
            raise ContractError(
                f"too many contract files in {label}",
                [Problem(f"{len(self.names)} files, the limit is {MAX_FILES}", rule="file-count")],
            )
        documents: list[tuple[str, dict[str, Any]]] = []
        for name in self.names:
            data = self._parse(name)
            self.resolver.documents[name] = data
            if isinstance(data, dict) and "asyncapi" in data:
                documents.append((name, data))
            elif isinstance(data, dict) and ({"info", "channels"} & data.keys()):
                self.problems.append(
                    Problem(
                        "looks like an AsyncAPI document but has no 'asyncapi' key",
                        file=name,
                        rule="asyncapi",
                    )
                )
            elif self.explicit and data is not None:
                self.problems.append(
                    Problem(
                        "not an AsyncAPI document (no 'asyncapi' key)", file=name, rule="asyncapi"
                    )
                )
        if not documents and not self.problems:
            self.problems.append(Problem(f"no AsyncAPI documents found in {label}", rule="empty"))
        contracts: dict[str, EventContract] = {}
        services: dict[str, ServiceDocument] = {}
        for name, document in documents:
            self._document(name, document, contracts, services)
        self.problems.extend(self.resolver.problems)
        if self.problems:
            # A bad payload keyword is found by both the AsyncAPI and the 2020-12 meta-schema.
            structural = {(p.file, p.pointer) for p in self.problems if p.rule == "asyncapi"}
            unique = [
                p
                for p in dict.fromkeys(self.problems)
                if not (p.rule == "payload-schema" and (p.file, p.pointer) in structural)
            ]
            located = self._located(unique)
            raise ContractError(f"invalid contracts in {label}: {len(located)} problem(s)", located)
        contract_set = ContractSet(contracts, services)
        contract_set.notes = self._located(list(dict.fromkeys(self.notes)))
        return contract_set

    def _located(self, problems: list[Problem]) -> list[Problem]:
        """With line and column from the file's text; one entry per (file, line, message)."""
        seen: dict[tuple[str, int | None, str], Problem] = {}
        for p in problems:
            text = self.texts.get(p.file) if p.file in self.parsed else None
            where = locate(text, p.pointer) if text is not None and p.pointer else None
            if where is not None:
                p = dataclasses.replace(p, line=where[0], column=where[1])
            seen.setdefault((p.file, p.line if p.line is not None else -1, p.message), p)
        return sorted(seen.values(), key=lambda p: (p.file, p.line or 0, p.column or 0))

    def _document(
        self,
        file: str,
        doc: dict[str, Any],
        contracts: dict[str, EventContract],
        services: dict[str, ServiceDocument],
    ) -> None:
        structure = structure_problems(doc, file)
        self.problems.extend(structure)
        self._check_refs(file, "", doc)
        # Carry on despite structure problems (all errors at once), reading defensively.
        info = doc.get("info")
        if not isinstance(info, dict):
            return
        owner, source = ext.info_extensions(info, file, self.problems)
        mesh = ext.mesh_of(info, file, "/info", self.problems) or "bizevents"
        self.problems.extend(ext.unknown_keys(doc, frozenset(), file, ""))
        service = str(info.get("title", ""))
        version = str(info.get("version", ""))
        channels = doc.get("channels")
        if service in services:
            self.problems.append(
                Problem(
                    f"service {service!r} is also declared in {services[service].file}",
                    "/info/title",
                    file,
                    "duplicate",
                )
            )
        events: list[str] = []
        for channel_id, raw_channel in sorted(
            channels.items() if isinstance(channels, dict) else []
        ):
            contract = self._channel(
                file, channel_id, raw_channel, (service, version, owner, source, mesh)
            )
            if contract is None:
                continue
            if contract.event_type in contracts:
                other = contracts[contract.event_type]
                self.problems.append(
                    Problem(
                        f"event type {contract.event_type!r} is also declared in {other.file} "
                        f"(channel {other.channel})",
                        join("/channels", channel_id, "x-bizevents-type"),
                        file,
                        "duplicate",
                    )
                )
                continue
            contracts[contract.event_type] = contract
            events.append(contract.event_type)
        services[service] = ServiceDocument(
            service, version, owner, file, doc, self.texts.get(file, ""), tuple(events)
        )

    def _check_refs(self, file: str, pointer: str, value: Any, depth: int = 0) -> None:
        """Every `$ref` anywhere in the document must name something (one step, not inlined)."""
        if isinstance(value, dict):
            ref = value.get("$ref")
            if isinstance(ref, str):
                try:
                    self.resolver.lookup(file, ref)
                except RefError as exc:
                    self.problems.append(Problem(str(exc), join(pointer, "$ref"), file, "ref"))
            for key, item in value.items():
                if key != "$ref":
                    self._check_refs(file, join(pointer, key), item, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._check_refs(file, join(pointer, i), item, depth + 1)

    def _channel(
        self,
        file: str,
        channel_id: str,
        raw_channel: Any,
        document: tuple[str, str, str, str, str],
    ) -> EventContract | None:
        service, version, owner, source, doc_mesh = document
        pointer = join("/channels", channel_id)
        try:
            cfile, cpointer, channel = self.resolver.follow(file, pointer, raw_channel)
        except RefError as exc:
            self.problems.append(Problem(str(exc), pointer, file, "ref"))
            return None
        if not isinstance(channel, dict):
            return None
        extensions = ext.channel_extensions(channel, cfile, cpointer, self.problems)
        mesh = ext.mesh_of(channel, cfile, cpointer, self.problems) or doc_mesh
        address = channel.get("address")
        if mesh == "mendix" and not (
            isinstance(address, str) and ext.MENDIX_CHANNEL.match(address)
        ):
            self.problems.append(
                Problem(
                    "with x-bizevents-mesh mendix the address is the Mendix channel id "
                    f"(letters, digits, '-', '_'; the topic is built from it), got {address!r}",
                    join(cpointer, "address"),
                    cfile,
                    "mesh",
                )
            )
            return None
        messages = channel.get("messages") or {}
        if not isinstance(messages, dict):
            return None  # reported by the structure check
        if len(messages) != 1:
            self.problems.append(
                Problem(
                    "a channel must carry exactly one message (one event type), "
                    f"found {len(messages)}",
                    join(cpointer, "messages"),
                    cfile,
                    "channel",
                )
            )
            return None
        ((message_id, raw_message),) = messages.items()
        try:
            mfile, mpointer, message = self.resolver.follow(
                cfile, join(cpointer, "messages", message_id), raw_message
            )
        except RefError as exc:
            self.problems.append(
                Problem(str(exc), join(cpointer, "messages", message_id), cfile, "ref")
            )
            return None
        schema, schema_ok = self._payload(mfile, mpointer, message)
        # Every check runs whatever else failed: all problems at once, not in stages.
        key_field = channel.get("x-bizevents-key")
        key_ok = True
        if schema is not None and isinstance(key_field, str) and key_field.strip():
            key_problems = ext.key_problems(key_field, schema, cfile, cpointer)
            self.problems.extend(key_problems)
            key_ok = not key_problems
        if schema is not None:
            payload_pointer = join(mpointer, "payload")
            self.problems.extend(schemalint.required_problems(schema, mfile, payload_pointer))
            self.notes.extend(schemalint.open_schema_notes(schema, mfile, payload_pointer))
        if extensions is None or schema is None or not schema_ok or not key_ok:
            return None
        if mesh == "mendix":
            _, refused = mendix_attributes(schema)
            if refused:
                self.problems.extend(
                    Problem(f"Mendix mesh: {why}", join(mpointer, "payload"), mfile, "mesh")
                    for why in refused
                )
                return None
        description = channel.get("description") or message.get("description") or ""
        return EventContract(
            event_type=extensions.event_type,
            source=extensions.source or source,
            topic=str(channel.get("address") or extensions.event_type),
            version=version,
            service=service,
            owner=owner,
            schema=schema,
            key_field=extensions.key_field,
            compatibility=extensions.compatibility,
            publishers=extensions.publishers if extensions.publishers is not None else (service,),
            subscribers=extensions.subscribers,
            retention_ms=extensions.retention_ms,
            description=str(description),
            channel=channel_id,
            message=str(message.get("name") or message_id),
            file=file,
            mesh=mesh,
        )

    def _payload(self, file: str, pointer: str, message: Any) -> tuple[dict[str, Any] | None, bool]:
        """The inlined payload schema (None when there is none to check further) and whether it
        is valid."""
        if not isinstance(message, dict) or "payload" not in message:
            self.problems.append(
                Problem("the message has no payload schema", pointer, file, "payload")
            )
            return None, False
        pointer = join(pointer, "payload")
        payload = message["payload"]
        if isinstance(payload, dict) and "schemaFormat" in payload:
            fmt = str(payload["schemaFormat"])
            if not fmt.startswith(("application/schema+json", "application/vnd.aai.asyncapi")):
                self.problems.append(
                    Problem(
                        f"schemaFormat {fmt!r} is not supported: use JSON Schema",
                        join(pointer, "schemaFormat"),
                        file,
                        "payload",
                    )
                )
                return None, False
            payload = payload.get("schema")
            pointer = join(pointer, "schema")
        before = len(self.resolver.problems)
        schema = self.resolver.inline(file, pointer, payload)
        if len(self.resolver.problems) > before:
            return None, False
        if not isinstance(schema, dict) or schema.get("type") != "object":
            self.problems.append(
                Problem("the payload schema must have type: object", pointer, file, "payload")
            )
            return None, False
        declared = schema.pop("$schema", DRAFT_2020_12)
        if declared != DRAFT_2020_12:
            self.problems.append(
                Problem(
                    f"payload $schema must be {DRAFT_2020_12!r} (or absent)",
                    join(pointer, "$schema"),
                    file,
                    "payload",
                )
            )
            return None, False
        problems = []
        for error in _META.iter_errors(schema):
            message, where = explain(error)
            problems.append(
                Problem(
                    f"invalid JSON Schema: {message}",
                    join(pointer, *split_pointer(where)),
                    file,
                    "payload-schema",
                )
            )
        self.problems.extend(problems)
        return schema, not problems
