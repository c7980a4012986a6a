"""Kafka ACLs derived from the contracts (pure: no I/O).

One principal per app, `User:<app>`. What each app may do, and nothing else:
- publish: WRITE on the topic of every event type that lists it in `x-bizevents-publishers`.
  The app's relay (and `events.direct()`) authenticate as the app, so Kafka itself refuses an
  event of a type the app does not publish, even one that reached the app's own outbox.
- subscribe: READ on the topic of every event type that lists it in `x-bizevents-subscribers`;
  READ on its consumer groups, named `<app>` or `<app>.<anything>`; READ, WRITE and CREATE on
  the groups' retry, replay and dead-letter topics (`bizevents.retry.<app>.*`,
  `bizevents.replay.<app>[.*]`, `bizevents.dlq.<app>[.*]`), which its worker creates and uses.
  READ and WRITE imply DESCRIBE in Kafka; WRITE on a topic implies idempotent writes.
App names cannot contain dots (contracts lint), so `<app>.` prefixes never overlap.

The broker's HTTP gateway (optional, `--gateway NAME`) is one more principal. It publishes and
subscribes for the apps holding its API keys, and checks their permissions itself (contracts and
grants), so Kafka can only hold it to the contracts' topics:
- READ and WRITE on every contract topic (its relay writes the gateway outbox; pull
  subscriptions, webhooks and the event log read);
- READ on its consumer groups `bizevents.pull.*`, `bizevents.webhook.*`, `bizevents-eventlog-*`;
- READ, WRITE, CREATE on its webhook workers' retry, replay and dead-letter topics;
- WRITE, CREATE on `bizevents.replay.*`: the ops page and OData replay dead letters of any group.

The dead-letter store's process (`--dlq NAME`: `bizevents dlq ingest`, `dlq replay`) may READ
every `bizevents.dlq.*` topic and its consumer group `bizevents-dlq-ingester`, and WRITE and
CREATE `bizevents.replay.*`. Replaying from history (`dlq replay-history`) reads event topics
and other groups' offsets: a super user's task.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from .. import topics
from ..contracts import ContractSet


class ResourceType(IntEnum):
    # Kafka's wire codes (org.apache.kafka.common.resource.ResourceType).
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(IntEnum):
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class Permission(IntEnum):
    ANY = 1
    DENY = 2
    ALLOW = 3


@dataclass(frozen=True, order=True)
class Acl:
    principal: str
    resource_type: ResourceType
    resource_name: str
    pattern: PatternType
    operation: Operation
    permission: Permission = Permission.ALLOW
    host: str = "*"

    def __str__(self) -> str:
        pattern = "*" if self.pattern is PatternType.PREFIXED else ""
        host = "" if self.host == "*" else f" from {self.host}"
        return (
            f"{self.principal} {self.permission.name} {self.operation.name} "
            f"{self.resource_type.name} {self.resource_name}{pattern}{host}"
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "principal": self.principal,
            "permission": self.permission.name,
            "operation": self.operation.name,
            "resource_type": self.resource_type.name,
            "resource_name": self.resource_name,
            "pattern": self.pattern.name,
            "host": self.host,
        }


def principal_of(app: str) -> str:
    return f"User:{app}"


_OWN_TOPIC_OPERATIONS = (Operation.READ, Operation.WRITE, Operation.CREATE)


def _own_topics(app: str) -> list[tuple[str, PatternType]]:
    """The names a subscriber app's worker creates for its groups (see bizevents.topics)."""
    return [
        (topics.retry_topic(app, ""), PatternType.PREFIXED),  # bizevents.retry.<app>.
        (topics.dead_letter_topic(app), PatternType.LITERAL),
        (topics.dead_letter_topic(app) + ".", PatternType.PREFIXED),
        (topics.replay_topic(app), PatternType.LITERAL),
        (topics.replay_topic(app) + ".", PatternType.PREFIXED),
    ]


def app_acls(app: str, publishes: Iterable[str], subscribes: Iterable[str]) -> set[Acl]:
    """The ACLs of one app: WRITE on `publishes`, READ on `subscribes` (topic names), and the
    consumer groups and private topics of a subscriber."""
    who = principal_of(app)
    acls = {
        Acl(who, ResourceType.TOPIC, t, PatternType.LITERAL, Operation.WRITE) for t in publishes
    }
    reads = set(subscribes)
    acls |= {Acl(who, ResourceType.TOPIC, t, PatternType.LITERAL, Operation.READ) for t in reads}
    if reads:
        acls.add(Acl(who, ResourceType.GROUP, app, PatternType.LITERAL, Operation.READ))
        acls.add(Acl(who, ResourceType.GROUP, f"{app}.", PatternType.PREFIXED, Operation.READ))
        for name, pattern in _own_topics(app):
            acls |= {
                Acl(who, ResourceType.TOPIC, name, pattern, op) for op in _OWN_TOPIC_OPERATIONS
            }
    return acls


# Consumer groups of the gateway (bizevents_broker: Subscription.group, EventLogFeeder).
GATEWAY_GROUP_PREFIXES = ("bizevents.pull.", "bizevents.webhook.", "bizevents-eventlog-")
WEBHOOK_GROUP_PREFIX = "bizevents.webhook."


def gateway_acls(name: str, contract_topics: Iterable[str]) -> set[Acl]:
    """The ACLs of the gateway's principal `User:<name>` (see the module's description)."""
    who = principal_of(name)
    acls = {
        Acl(who, ResourceType.TOPIC, t, PatternType.LITERAL, op)
        for t in contract_topics
        for op in (Operation.READ, Operation.WRITE)
    }
    acls |= {
        Acl(who, ResourceType.GROUP, g, PatternType.PREFIXED, Operation.READ)
        for g in GATEWAY_GROUP_PREFIXES
    }
    webhook_topics = (
        topics.retry_topic(WEBHOOK_GROUP_PREFIX.rstrip("."), ""),  # bizevents.retry.<group>.
        topics.dead_letter_topic(WEBHOOK_GROUP_PREFIX),
        topics.replay_topic(WEBHOOK_GROUP_PREFIX),
    )
    acls |= {
        Acl(who, ResourceType.TOPIC, t, PatternType.PREFIXED, op)
        for t in webhook_topics
        for op in _OWN_TOPIC_OPERATIONS
    }
    acls |= {
        Acl(who, ResourceType.TOPIC, topics.replay_topic(""), PatternType.PREFIXED, op)
        for op in (Operation.WRITE, Operation.CREATE)
    }
    return acls


DLQ_INGESTER_GROUP = "bizevents-dlq-ingester"  # DeadLetterSettings.dlq_ingester_group


def dlq_acls(name: str, group: str = DLQ_INGESTER_GROUP) -> set[Acl]:
    """The ACLs of the dead-letter store's principal `User:<name>`."""
    who = principal_of(name)
    dead_letters = topics.dead_letter_topic("")  # bizevents.dlq.
    acls = {
        Acl(who, ResourceType.TOPIC, dead_letters, PatternType.PREFIXED, Operation.READ),
        Acl(who, ResourceType.GROUP, group, PatternType.LITERAL, Operation.READ),
    }
    acls |= {
        Acl(who, ResourceType.TOPIC, topics.replay_topic(""), PatternType.PREFIXED, op)
        for op in (Operation.WRITE, Operation.CREATE)
    }
    return acls


@dataclass
class Derived:
    acls: set[Acl]
    apps: set[str]
    topics: set[str]
    # Event types nobody but a super user may publish (no publishers listed).
    unpublishable: list[str] = field(default_factory=list)
    gateway: str | None = None  # the gateway's principal name, when it has ACLs
    dlq: str | None = None  # the dead-letter store's principal name, when it has ACLs

    @property
    def principals(self) -> set[str]:
        names = set(self.apps) | {n for n in (self.gateway, self.dlq) if n}
        return {principal_of(n) for n in names}


def derive(contracts: ContractSet, gateway: str | None = None, dlq: str | None = None) -> Derived:
    """Every ACL the contracts call for (and the gateway's and the dead-letter store's, when
    they are named)."""
    publishes: dict[str, set[str]] = {}
    subscribes: dict[str, set[str]] = {}
    unpublishable = []
    for contract in contracts:
        for app in contract.publishers:
            publishes.setdefault(app, set()).add(contract.topic)
        for app in contract.subscribers:
            subscribes.setdefault(app, set()).add(contract.topic)
        if not contract.publishers:
            unpublishable.append(contract.event_type)
    apps = set(publishes) | set(subscribes)
    acls: set[Acl] = set()
    for app in apps:
        acls |= app_acls(app, publishes.get(app, ()), subscribes.get(app, ()))
    contract_topics = {c.topic for c in contracts}
    if gateway is not None:
        acls |= gateway_acls(gateway, contract_topics)
    if dlq is not None:
        acls |= dlq_acls(dlq)
    return Derived(acls, apps, contract_topics, sorted(unpublishable), gateway, dlq)


@dataclass
class AclPlan:
    add: list[Acl]
    remove: list[Acl]

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def managed(acl: Acl, derived: Derived, extra_principals: Iterable[str] = ()) -> bool:
    """Whether an existing ACL is ours to compare: it names an app of the contracts (or a
    principal named on the command line), a contract's topic, or a bizevents.* resource."""
    principals = derived.principals | set(extra_principals)
    return (
        acl.principal in principals
        or (acl.resource_type is ResourceType.TOPIC and acl.resource_name in derived.topics)
        or acl.resource_name.startswith("bizevents.")
    )


def plan(
    derived: Derived, existing: Iterable[Acl], extra_principals: Iterable[str] = ()
) -> AclPlan:
    """What to create and what to delete so the cluster matches the contracts."""
    current = set(existing)
    ours = {a for a in current if managed(a, derived, extra_principals)}
    return AclPlan(add=sorted(derived.acls - current), remove=sorted(ours - derived.acls))
