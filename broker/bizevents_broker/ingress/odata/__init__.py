"""OData v4 over the gateway core: the event log, subscriptions and contracts as entity sets for
BI tools (Excel, Power BI) and OData clients; `POST /odata/Events` publishes. See `service`."""

from .service import routes

__all__ = ["routes"]
