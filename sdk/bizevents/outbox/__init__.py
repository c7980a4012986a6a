"""The transactional outbox: events are rows committed with the app's own data."""

from .schema import migrate_outbox, notify_channel
from .writer import OutboxWriter, OutgoingEvent

__all__ = ["OutboxWriter", "OutgoingEvent", "migrate_outbox", "notify_channel"]
