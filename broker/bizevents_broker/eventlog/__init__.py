"""The gateway's event log: recent events of the contract topics, copied from Kafka into a
PostgreSQL table so request-driven clients (OData, SOAP's GetEventStatus) can query them.

    await migrate_event_log(conn, schema)
    feeder = EventLogFeeder(pool, schema, contracts, settings, retention=7 * 86400)
    task = asyncio.create_task(feeder.run()); ...; feeder.stop()

The feeder is an ordinary Kafka consumer group (`bizevents-eventlog-<schema>`): at least once,
so rows are keyed by event id and a redelivered event is written once.
"""

from .feeder import EventLogFeeder, row_of
from .schema import COLUMNS, migrate_event_log

__all__ = ["COLUMNS", "EventLogFeeder", "migrate_event_log", "row_of"]
