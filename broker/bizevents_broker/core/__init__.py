"""The gateway core: what every ingress (REST here; OData, SOAP, ...) calls. No HTTP in here.

    gateway = await Gateway.open(database_url, "bizevents_gateway", RegistryContracts(registry))
    principal = await gateway.authenticate(api_key)     # Principal(app, admin, grants, key_id)
    gateway.admit(principal)                            # rate limit per app
    accepted = await gateway.publish(principal, [IncomingEvent(type=..., data=...)],
                                     Idempotency(key, fingerprint_of_request))
    accepted.ids                                        # event ids, in request order

Operations
- `authenticate(key)`: an app's API key (`bze_<id>_<secret>`, only its SHA-256 is stored) or the
  operator's admin token -> `Principal`. Revoked and expired keys fail at once.
- `admit(principal)`: one request against the app's token bucket.
- `require_admin(principal)`: for app management and other operator actions.
- `publish(principal, events, idempotency=None)`: permission per event (contract's publishers,
  grants, admin), validation by the SDK's own `bizevents.app.build_event` (same checks, same
  CloudEvent attributes as `Events.publish`), then one transaction into the gateway's outbox
  (`<schema>.outbox`, moved to Kafka by the ordinary relay). All events or none.
- `create_subscription(principal, "pull", event_types, start)`, `subscription(...)`,
  `list_subscriptions(...)`, `delete_subscription(...)`: subscriptions an app owns (others' read
  as not found); subscribing needs the contract's subscribers list, a grant, or admin.
- `fetch(principal, subscription_id, session, max_events, wait)` -> `Fetched(token, events)` and
  `commit(principal, subscription_id, session, token)`: pull delivery, at least once, one open
  batch per session, redelivered after the subscription's commit timeout (see `pull.py`).
- `apps` (`AppStore`): create, list, show, rotate (old keys live on for a grace period), revoke
  (an app or one key), grant/ungrant; each takes a connection from `gateway.connection()`.

Errors: every failure is a `GatewayError(kind, detail, problems=[ProblemDetail(message,
pointer)], retry_after=None)`. Map `kind` through `ERROR_TABLE` (HTTP status, title, and whether
the client is at fault, e.g. for SOAP's Client/Server fault codes):

    kind                      HTTP  when
    unauthenticated           401   no key, malformed, unknown, expired or revoked key
    forbidden                 403   not permitted, *and* unknown event types for non-admins
    not-found                 404   unknown app; unknown event type (admins only)
    bad-request               400   malformed JSON or parameters
    invalid-cloudevent        400   a CloudEvent attribute is missing or wrong (pointer says which)
    unsupported-media-type    415   a content type the ingress does not take
    payload-invalid           422   data breaks the contract (one problem per violation)
    body-too-large            413   request body over the limit
    batch-too-large           413   more events than `Limits.max_batch`
    idempotency-key-reused    422   same Idempotency-Key, different request
    conflict                  409   app exists / is revoked; same key still in progress;
                                    a pull batch that expired or is not the open one
    rate-limited              429   over the app's rate (`retry_after` seconds)
    unavailable               503   PostgreSQL or Kafka unreachable (retry)

`detail` never contains a key or secret, and a refusal never reveals whether a type exists.
Problem pointers are JSON pointers into the request: "/3/data/amount" is event 3's data field.
"""

from .contracts import ContractSource, FixedContracts, RegistryContracts
from .errors import ERROR_TABLE, ErrorKind, ErrorSpec, GatewayError, ProblemDetail
from .gateway import Accepted, Gateway, Idempotency, Limits
from .incoming import IncomingEvent, from_structured
from .permissions import Action, Grant, Principal, allowed
from .store import AppInfo, AppStore, KeyInfo

__all__ = [
    "ERROR_TABLE",
    "Accepted",
    "Action",
    "AppInfo",
    "AppStore",
    "ContractSource",
    "ErrorKind",
    "ErrorSpec",
    "FixedContracts",
    "Gateway",
    "GatewayError",
    "Grant",
    "Idempotency",
    "IncomingEvent",
    "KeyInfo",
    "Limits",
    "Principal",
    "ProblemDetail",
    "RegistryContracts",
    "allowed",
    "from_structured",
]
