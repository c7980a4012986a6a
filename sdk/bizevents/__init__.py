"""bizevents: business events between applications.

Apps publish through a transactional outbox in their own PostgreSQL database; a relay moves the
events to Kafka as CloudEvents; subscriber workers handle them at least once.
"""

from .app import Event, Events
from .envelope import Envelope, Mode
from .errors import (
    BizEventsError,
    ConfigurationError,
    ContractError,
    EnvelopeError,
    IncompatibleChangeError,
    PayloadValidationError,
    PermissionDeniedError,
    PublishError,
    UnknownEventTypeError,
)

__all__ = [
    "BizEventsError",
    "ConfigurationError",
    "ContractError",
    "Envelope",
    "EnvelopeError",
    "Event",
    "Events",
    "IncompatibleChangeError",
    "Mode",
    "PayloadValidationError",
    "PermissionDeniedError",
    "PublishError",
    "UnknownEventTypeError",
]
