"""SOAP 1.1 over the gateway core (document/literal, WSDL at /soap?wsdl). See `service`."""

from .service import routes

__all__ = ["routes"]
