"""Dead letters: a queryable PostgreSQL store, an ingester for `bizevents.dlq.*`, replay, purge."""

from .history import HistoryResult, Start, parse_start, replay_history
from .ingest import DeadLetterIngester
from .model import DeadLetterRecord, Status, from_dead_letter, from_kafka_record
from .query import DeadLetterFilter
from .replay import ReplayResult, replay_dead_letters
from .settings import DeadLetterSettings
from .sink import PostgresSink, store_sink
from .store import DEFAULT_SCHEMA, DeadLetterStore, Page, StoredDeadLetter

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
    "from_dead_letter",
    "from_kafka_record",
    "parse_start",
    "replay_dead_letters",
    "replay_history",
    "store_sink",
]
