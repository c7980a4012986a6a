"""The OData entity model (pure): entity sets, their properties and SQL columns, and the CSDL
document ($metadata) generated from them."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from bizevents.deadletter import LISTED_FIELDS, column_of

NAMESPACE = "BizEvents"


@dataclass(frozen=True)
class Property:
    name: str  # the OData name
    edm: str  # Edm.String, Edm.DateTimeOffset, Edm.Int32, Edm.Int64, Edm.Boolean
    column: str  # the SQL expression it reads (a column of the set's table)
    nullable: bool = True


@dataclass(frozen=True)
class EntitySet:
    name: str
    type_name: str
    key: str
    properties: tuple[Property, ...]

    def find(self, name: str) -> Property | None:
        for p in self.properties:
            if p.name == name:
                return p
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.properties)


EVENTS = EntitySet(
    "Events",
    "Event",
    "Id",
    (
        Property("Id", "Edm.String", "id", nullable=False),
        Property("Type", "Edm.String", "type", nullable=False),
        Property("Source", "Edm.String", "source", nullable=False),
        Property("Subject", "Edm.String", "subject"),
        Property("Time", "Edm.DateTimeOffset", "time", nullable=False),
        Property("PartitionKey", "Edm.String", "partition_key"),
        Property("DataSchema", "Edm.String", "dataschema"),
        Property("DataContentType", "Edm.String", "datacontenttype"),
        Property("Data", "Edm.String", "data::text"),  # the payload as JSON text
        Property("Topic", "Edm.String", "topic"),
        Property("KafkaPartition", "Edm.Int32", "kafka_partition"),
        Property("KafkaOffset", "Edm.Int64", "kafka_offset"),
    ),
)

SUBSCRIPTIONS = EntitySet(
    "Subscriptions",
    "Subscription",
    "Id",
    (
        Property("Id", "Edm.String", "id", nullable=False),
        Property("Kind", "Edm.String", "kind", nullable=False),
        Property("App", "Edm.String", "app", nullable=False),
        Property("EventTypes", "Edm.String", "event_types", nullable=False),  # comma-separated
        Property("Start", "Edm.String", "start"),
        Property("CreatedAt", "Edm.DateTimeOffset", "created_at"),
    ),
)

EVENT_TYPES = EntitySet(
    "EventTypes",
    "EventType",
    "Type",
    (
        Property("Type", "Edm.String", "type", nullable=False),
        Property("Version", "Edm.String", "version", nullable=False),
        Property("Source", "Edm.String", "source", nullable=False),
        Property("Topic", "Edm.String", "topic", nullable=False),
        Property("Service", "Edm.String", "service"),
        Property("Owner", "Edm.String", "owner"),
        Property("Description", "Edm.String", "description"),
        Property("KeyField", "Edm.String", "key_field"),
        Property("Schema", "Edm.String", "schema"),  # the payload's JSON Schema as JSON text
    ),
)

# The dead-letter model's listed fields, named in PascalCase (`event_type` -> `EventType`).
_EDM = {
    "text": "Edm.String",
    "int32": "Edm.Int32",
    "int64": "Edm.Int64",
    "time": "Edm.DateTimeOffset",
}
DEAD_LETTERS = EntitySet(
    "DeadLetters",
    "DeadLetter",
    "Id",
    tuple(
        Property(
            "".join(part.capitalize() for part in f.name.split("_")),
            _EDM[f.kind],
            column_of(f.name),
            nullable=f.nullable,
        )
        for f in LISTED_FIELDS
    ),
)

ENTITY_SETS = (EVENTS, SUBSCRIPTIONS, EVENT_TYPES, DEAD_LETTERS)

# Operations: `DeadLetters(id)/BizEvents.Replay` (bound) and `Purge` (unbound, an action import).
OPERATIONS = f"""
<ComplexType Name="ReplayResult">
  <Property Name="Replayed" Type="Edm.Int64" Nullable="false"/>
  <Property Name="Skipped" Type="Edm.Int64" Nullable="false"/>
</ComplexType>
<Action Name="Replay" IsBound="true">
  <Parameter Name="bindingParameter" Type="{NAMESPACE}.DeadLetter" Nullable="false"/>
  <ReturnType Type="{NAMESPACE}.ReplayResult" Nullable="false"/>
</Action>
<Action Name="Purge">
  <Parameter Name="Group" Type="Edm.String"/>
  <Parameter Name="EventType" Type="Edm.String"/>
  <Parameter Name="Until" Type="Edm.DateTimeOffset"/>
  <ReturnType Type="Edm.Int64" Nullable="false"/>
</Action>"""


def metadata_xml() -> str:
    """The CSDL (OData 4.0, XML) of the service."""
    types, sets = [], []
    for entity_set in ENTITY_SETS:
        props = "".join(
            f"<Property Name={quoteattr(p.name)} Type={quoteattr(p.edm)}"
            f' Nullable="{str(p.nullable).lower()}"/>'
            for p in entity_set.properties
        )
        types.append(
            f"<EntityType Name={quoteattr(entity_set.type_name)}>"
            f"<Key><PropertyRef Name={quoteattr(entity_set.key)}/></Key>{props}</EntityType>"
        )
        sets.append(
            f"<EntitySet Name={quoteattr(entity_set.name)}"
            f" EntityType={quoteattr(f'{NAMESPACE}.{entity_set.type_name}')}/>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">'
        "<edmx:DataServices>"
        f'<Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="{NAMESPACE}">'
        + "".join(types)
        + OPERATIONS.replace("\n", "").replace("  <", "<")
        + '<EntityContainer Name="Container">'
        + "".join(sets)
        + f'<ActionImport Name="Purge" Action="{NAMESPACE}.Purge"/>'
        + "</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>"
    )
