"""Kafka admin requests aiokafka lacks: ACLs and SCRAM users (KIP-554).

The wire formats follow Kafka's message definitions (DescribeAcls/CreateAcls/DeleteAcls v1,
DescribeUserScramCredentials/AlterUserScramCredentials v0). A SCRAM password is salted and hashed
here; only the salted hash is sent, and nothing here logs or returns it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any, TypeAlias

from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    Array,
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    String,
    TaggedFields,
)

from ..errors import BizEventsError
from ..settings import ConnectionSettings
from .acls import Acl, Operation, PatternType, Permission, ResourceType
from .scram import salted_password

SCRAM_CODES = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}
SCRAM_ITERATIONS = 8192


class KafkaAdminError(BizEventsError):
    """Kafka refused an admin request (not authorized, invalid ACL...)."""


# -- wire structures ---------------------------------------------------------------------------
_S = String("utf-8")


class _DescribeAclsResponse(Response):
    API_KEY = 29
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", _S),
        (
            "resources",
            Array(
                ("resource_type", Int8),
                ("resource_name", _S),
                ("pattern_type", Int8),
                (
                    "acls",
                    Array(
                        ("principal", _S), ("host", _S), ("operation", Int8), ("permission", Int8)
                    ),
                ),
            ),
        ),
    )


class _DescribeAclsStruct(RequestStruct):
    API_KEY = 29
    API_VERSION = 1
    RESPONSE_TYPE = _DescribeAclsResponse
    SCHEMA = Schema(
        ("resource_type", Int8),
        ("resource_name", _S),
        ("pattern_type", Int8),
        ("principal", _S),
        ("host", _S),
        ("operation", Int8),
        ("permission", Int8),
    )


class _DescribeAcls(Request[_DescribeAclsStruct]):
    API_KEY = 29

    def build(self, request_struct_class: type[_DescribeAclsStruct]) -> _DescribeAclsStruct:
        any_ = 1  # ANY for resource type, pattern type, operation and permission
        return request_struct_class(any_, None, any_, None, None, any_, any_)


class _CreateAclsResponse(Response):
    API_KEY = 30
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("results", Array(("error_code", Int16), ("error_message", _S))),
    )


_ACL_FIELDS = (
    ("resource_type", Int8),
    ("resource_name", _S),
    ("pattern_type", Int8),
    ("principal", _S),
    ("host", _S),
    ("operation", Int8),
    ("permission", Int8),
)


class _CreateAclsStruct(RequestStruct):
    API_KEY = 30
    API_VERSION = 1
    RESPONSE_TYPE = _CreateAclsResponse
    SCHEMA = Schema(("creations", Array(*_ACL_FIELDS)))


def _acl_tuple(acl: Acl) -> tuple[Any, ...]:
    return (
        int(acl.resource_type),
        acl.resource_name,
        int(acl.pattern),
        acl.principal,
        acl.host,
        int(acl.operation),
        int(acl.permission),
    )


class _CreateAcls(Request[_CreateAclsStruct]):
    API_KEY = 30

    def __init__(self, acls: Sequence[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[_CreateAclsStruct]) -> _CreateAclsStruct:
        return request_struct_class([_acl_tuple(a) for a in self.acls])


class _DeleteAclsResponse(Response):
    API_KEY = 31
    API_VERSION = 1
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "filter_results",
            Array(
                ("error_code", Int16),
                ("error_message", _S),
                (
                    "matching",
                    Array(("error_code", Int16), ("error_message", _S), *_ACL_FIELDS),
                ),
            ),
        ),
    )


class _DeleteAclsStruct(RequestStruct):
    API_KEY = 31
    API_VERSION = 1
    RESPONSE_TYPE = _DeleteAclsResponse
    SCHEMA = Schema(("filters", Array(*_ACL_FIELDS)))


class _DeleteAcls(Request[_DeleteAclsStruct]):
    API_KEY = 31

    def __init__(self, acls: Sequence[Acl]) -> None:
        self.acls = acls

    def build(self, request_struct_class: type[_DeleteAclsStruct]) -> _DeleteAclsStruct:
        return request_struct_class([_acl_tuple(a) for a in self.acls])


_CS = CompactString("utf-8")


class _DescribeScramResponse(Response):
    API_KEY = 50
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        ("error_code", Int16),
        ("error_message", _CS),
        (
            "results",
            CompactArray(
                ("user", _CS),
                ("error_code", Int16),
                ("error_message", _CS),
                (
                    "credentials",
                    CompactArray(
                        ("mechanism", Int8), ("iterations", Int32), ("tags", TaggedFields)
                    ),
                ),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _DescribeScramStruct(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 50
    API_VERSION = 0
    RESPONSE_TYPE = _DescribeScramResponse
    SCHEMA = Schema(
        ("users", CompactArray(("name", _CS), ("tags", TaggedFields))), ("tags", TaggedFields)
    )


class _DescribeScram(Request[_DescribeScramStruct]):
    API_KEY = 50

    def build(self, request_struct_class: type[_DescribeScramStruct]) -> _DescribeScramStruct:
        return request_struct_class(None, {})  # every user


class _AlterScramResponse(Response):
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", _CS), ("error_code", Int16), ("error_message", _CS), ("tags", TaggedFields)
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramStruct(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse
    SCHEMA = Schema(
        ("deletions", CompactArray(("name", _CS), ("mechanism", Int8), ("tags", TaggedFields))),
        (
            "upsertions",
            CompactArray(
                ("name", _CS),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


_Upsert: TypeAlias = tuple[str, int, int, bytes, bytes, dict[int, bytes]]


class _AlterScram(Request[_AlterScramStruct]):
    API_KEY = 51

    def __init__(
        self, upserts: list[_Upsert], deletions: list[tuple[str, int, dict[int, bytes]]]
    ) -> None:
        self.upserts = upserts
        self.removals = deletions

    def build(self, request_struct_class: type[_AlterScramStruct]) -> _AlterScramStruct:
        return request_struct_class(self.removals, self.upserts, {})


# -- the client --------------------------------------------------------------------------------
class KafkaAdmin:
    """ACLs and SCRAM users on a cluster, as the principal of `settings` (a super user)."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self._client = AIOKafkaClient(**settings.kafka_client_options(), request_timeout_ms=15000)

    async def __aenter__(self) -> KafkaAdmin:
        await self._client.bootstrap()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def _send(self, request: Request[Any]) -> Any:
        return await self._client.send(self._client.get_random_node(), request)

    async def describe_acls(self) -> set[Acl]:
        response = await self._send(_DescribeAcls())
        _check(response.error_code, response.error_message, "describing ACLs")
        found = set()
        for rtype, name, pattern, acls in response.resources:
            for principal, host, operation, permission in acls:
                found.add(
                    Acl(
                        principal,
                        ResourceType(rtype),
                        name,
                        PatternType(pattern),
                        Operation(operation),
                        Permission(permission),
                        host,
                    )
                )
        return found

    async def create_acls(self, acls: Sequence[Acl]) -> None:
        if not acls:
            return
        response = await self._send(_CreateAcls(acls))
        for acl, (code, message) in zip(acls, response.results, strict=True):
            _check(code, message, f"creating ACL {acl}")

    async def delete_acls(self, acls: Sequence[Acl]) -> None:
        if not acls:
            return
        response = await self._send(_DeleteAcls(acls))
        for acl, (code, message, _) in zip(acls, response.filter_results, strict=True):
            _check(code, message, f"deleting ACL {acl}")

    async def scram_users(self) -> dict[str, list[str]]:
        """User name -> SCRAM mechanisms it has a credential for."""
        response = await self._send(_DescribeScram())
        _check(response.error_code, response.error_message, "listing SCRAM users")
        names = {code: name for name, code in SCRAM_CODES.items()}
        users: dict[str, list[str]] = {}
        for user, code, message, credentials, _ in response.results:
            _check(code, message, f"describing user {user!r}")
            users[user] = sorted(names.get(m, str(m)) for m, _, _ in credentials)
        return users

    async def set_scram_user(
        self, name: str, password: str, mechanism: str = "SCRAM-SHA-512"
    ) -> None:
        """Create the user or change its password."""
        if mechanism not in SCRAM_CODES:
            raise KafkaAdminError(f"unknown SCRAM mechanism {mechanism!r}")
        salt = secrets.token_bytes(32)
        salted = salted_password(mechanism, password, salt, SCRAM_ITERATIONS)
        upsert: _Upsert = (name, SCRAM_CODES[mechanism], SCRAM_ITERATIONS, salt, salted, {})
        response = await self._send(_AlterScram([upsert], []))
        for user, code, message, _ in response.results:
            _check(code, message, f"setting the password of {user!r}")

    async def delete_scram_user(self, name: str, mechanism: str = "SCRAM-SHA-512") -> None:
        response = await self._send(_AlterScram([], [(name, SCRAM_CODES[mechanism], {})]))
        for user, code, message, _ in response.results:
            _check(code, message, f"deleting user {user!r}")


def _check(code: int, message: str | None, doing: str) -> None:
    if code:
        from aiokafka.errors import for_code

        name = for_code(code).__name__
        raise KafkaAdminError(
            f"Kafka refused {doing}: {name}" + (f" ({message})" if message else "")
        )
