"""Dead letters: a queryable PostgreSQL store, an ingester for `bizevents.dlq.*`, replay, purge.

The dead-letter model itself (`DeadLetterRecord`, `StoredDeadLetter`, `Status`) lives in
`bizevents.deadletter`, shared with the worker that writes the letters and the broker's views.
"""

from ..deadletter import DeadLetterRecord, Status, StoredDeadLetter, from_kafka_record
from .history import HistoryResult, Start, parse_start, replay_history
from .ingest import DeadLetterIngester
from .query import DeadLetterFilter
from .replay import ReplayResult, replay_dead_letters
from .settings import DeadLetterSettings
from .sink import PostgresSink, store_sink
from .store import DEFAULT_SCHEMA, DeadLetterStore, Page

__all__ = [
    "DEFAULT_SCHEMA",
    "DeadLetterFilter",
    "DeadLetterIngester",
    "DeadLetterRecord",
    "DeadLetterSettings",
    "DeadLetterStore",
    "HistoryResult",
    "Page",
    "PostgresSink",
    "ReplayResult",
    "Start",
    "Status",
    "StoredDeadLetter",
    "from_kafka_record",
    "parse_start",
    "replay_dead_letters",
    "replay_history",
    "store_sink",
]
