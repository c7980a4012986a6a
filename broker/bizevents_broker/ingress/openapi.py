"""The gateway's OpenAPI 3.1 document (served at /openapi.json; the tests check the server
against it) and a browsable HTML rendering of it (/docs/api), both pure."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from ..core.errors import ERROR_TABLE

PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}


def _errors(*statuses: int) -> dict[str, Any]:
    titles = {spec.status: spec.title for spec in ERROR_TABLE.values()}
    titles[413] = "Request body or batch too large"
    titles[422] = "Data breaks its contract, or an Idempotency-Key was reused"
    out: dict[str, Any] = {}
    for status in (401, 429, 503, *statuses):
        response = _problem(titles[status])
        if status == 429:
            response["headers"] = {
                "Retry-After": {"schema": {"type": "string"}, "description": "seconds"}
            }
        out[str(status)] = response
    return out


_JSON_OBJECT = {"type": "object"}
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a request safely: the same key and request within the retention "
    "window returns the first answer and writes nothing.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_ACCEPTED = {
    "description": "Written to the outbox; the relay moves the events to Kafka.",
    "headers": {
        "Idempotent-Replayed": {
            "schema": {"type": "string"},
            "description": "'true' when this is the stored answer to an earlier request",
        }
    },
    "content": {"application/json": {"schema": _ref("Accepted")}},
}
_APP_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _app_response(description: str, with_key: bool = False) -> dict[str, Any]:
    schema = _ref("AppWithKey") if with_key else _ref("AppEnvelope")
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["pointer", "message"],
                    "properties": {
                        "pointer": {"type": "string", "description": "JSON pointer"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
    "Accepted": {
        "type": "object",
        "required": ["ids"],
        "properties": {"ids": {"type": "array", "items": {"type": "string", "format": "uuid"}}},
    },
    "CloudEvent": {
        "type": "object",
        "description": "CloudEvents 1.0, JSON format. `source` and `dataschema`, when given, "
        "must be the contract's; `id` (a UUID) and `time` default to new ones.",
        "required": ["specversion", "id", "source", "type"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {"type": "string", "format": "uuid"},
            "source": {"type": "string", "minLength": 1},
            "type": {"type": "string", "minLength": 1},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string", "minLength": 1},
            "dataschema": {"type": "string", "minLength": 1},
            "datacontenttype": {"type": "string"},
            "partitionkey": {"type": "string"},
            "data": {},
            "data_base64": {"type": "string"},
        },
        "additionalProperties": {"type": ["string", "integer"]},
    },
    "CloudEventBatch": {"type": "array", "items": _ref("CloudEvent")},
    "Key": {
        "type": "object",
        "required": ["key_id", "created_at", "expires_at", "revoked_at"],
        "properties": {
            "key_id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "App": {
        "type": "object",
        "required": ["name", "admin", "description", "created_at", "revoked_at", "grants", "keys"],
        "properties": {
            "name": {"type": "string"},
            "admin": {"type": "boolean"},
            "description": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
            "grants": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["action", "event_type"],
                    "properties": {
                        "action": {"enum": ["publish", "subscribe"]},
                        "event_type": {"type": "string"},
                    },
                },
            },
            "keys": {"type": "array", "items": _ref("Key")},
        },
    },
    "AppEnvelope": {"type": "object", "required": ["app"], "properties": {"app": _ref("App")}},
    "AppWithKey": {
        "type": "object",
        "required": ["app", "key"],
        "properties": {
            "app": _ref("App"),
            "key": {"type": "string", "description": "the new API key: shown only this once"},
        },
    },
    "Subscription": {
        "type": "object",
        "required": ["id", "app", "kind", "event_types", "start", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "app": {"type": "string"},
            "kind": {"enum": ["pull", "webhook"]},
            "event_types": {"type": "array", "items": {"type": "string"}},
            "start": {"type": "string"},
            "commit_timeout": {"type": "number"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "SubscriptionEnvelope": {
        "type": "object",
        "required": ["subscription"],
        "properties": {"subscription": _ref("Subscription")},
    },
    "NewSubscription": {
        "type": "object",
        "required": ["event_types"],
        "properties": {
            "event_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "start": {
                "type": "string",
                "description": "earliest, latest (default) or an RFC 3339 time",
            },
            "commit_timeout": {"type": "number", "minimum": 1, "maximum": 3600},
        },
    },
    "Batch": {
        "type": "object",
        "required": ["batch", "events"],
        "properties": {
            "batch": {
                "type": ["string", "null"],
                "description": "commit this token to move on; null when no events came",
            },
            "events": {"type": "array", "items": _ref("CloudEvent")},
        },
    },
    "Webhook": {
        "type": "object",
        "required": ["id", "app", "kind", "event_types", "start", "url", "created_at"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "app": {"type": "string"},
            "kind": {"const": "webhook"},
            "event_types": {"type": "array", "items": {"type": "string"}},
            "start": {"type": "string"},
            "url": {"type": "string"},
            "filters": {"type": "object", "additionalProperties": {"type": "string"}},
            "dead_letter_4xx": {"type": "boolean"},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "WebhookEnvelope": {
        "type": "object",
        "required": ["webhook"],
        "properties": {"webhook": _ref("Webhook")},
    },
    "WebhookWithSecret": {
        "type": "object",
        "required": ["webhook", "secret"],
        "properties": {
            "webhook": _ref("Webhook"),
            "secret": {
                "type": "string",
                "description": "whsec_...: the signing secret, shown only this once",
            },
        },
    },
    "NewWebhook": {
        "type": "object",
        "required": ["event_types", "url"],
        "properties": {
            "event_types": {"type": "array", "items": {"type": "string"}, "minItems": 1},
            "url": {
                "type": "string",
                "description": "http(s); public addresses only, unless "
                "allowed by BIZEVENTS_GATEWAY_WEBHOOK_ALLOW",
            },
            "filters": {
                "type": "object",
                "description": "CloudEvents attribute -> exact value",
                "additionalProperties": {"type": "string"},
            },
            "start": {"type": "string"},
            "dead_letter_4xx": {"type": "boolean"},
        },
    },
    "NewApp": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9._-]{0,62}$"},
            "admin": {"type": "boolean"},
            "description": {"type": "string"},
            "grants": {
                "type": "array",
                "items": {"type": "string", "pattern": "^(publish|subscribe):.+$"},
            },
        },
    },
}


def _publish_cloudevents() -> dict[str, Any]:
    return {
        "summary": "Publish CloudEvents (structured, binary or batch mode)",
        "description": "Structured: `Content-Type: application/cloudevents+json`. Batch: "
        "`application/cloudevents-batch+json` (all events or none). Binary: the data as an "
        "`application/json` body with `ce-specversion`, `ce-id`, `ce-source`, `ce-type` (and "
        "optional `ce-time`, `ce-subject`, `ce-partitionkey`, extensions) headers.",
        "operationId": "publishCloudEvents",
        "parameters": [_IDEMPOTENCY],
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": _ref("CloudEvent")},
                "application/cloudevents-batch+json": {"schema": _ref("CloudEventBatch")},
                "application/json": {"schema": {}},
            },
        },
        "responses": {"202": _ACCEPTED, **_errors(400, 403, 404, 409, 413, 415, 422)},
    }


def _publish_plain() -> dict[str, Any]:
    return {
        "summary": "Publish one event: the payload as plain JSON",
        "operationId": "publishEvent",
        "parameters": [
            {"name": "type", "in": "path", "required": True, "schema": {"type": "string"}},
            {
                "name": "key",
                "in": "query",
                "required": False,
                "description": "partition key (default: the contract's key field)",
                "schema": {"type": "string"},
            },
            {"name": "subject", "in": "query", "required": False, "schema": {"type": "string"}},
            _IDEMPOTENCY,
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {"202": _ACCEPTED, **_errors(400, 403, 404, 409, 413, 415, 422)},
    }


_SUB_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _subscription_paths() -> dict[str, Any]:
    tags = ["pull subscriptions"]
    return {
        "/subscriptions": {
            "get": {
                "tags": tags,
                "summary": "The app's pull subscriptions",
                "operationId": "listSubscriptions",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["subscriptions"],
                            "properties": {
                                "subscriptions": {"type": "array", "items": _ref("Subscription")}
                            },
                        },
                        "subscriptions",
                    ),
                    **_errors(),
                },
            },
            "post": {
                "tags": tags,
                "summary": "Subscribe to event types the app may subscribe to",
                "operationId": "createSubscription",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewSubscription")}},
                },
                "responses": {
                    "201": _json(_ref("SubscriptionEnvelope"), "created"),
                    **_errors(400, 403, 413),
                },
            },
        },
        "/subscriptions/{id}": {
            "get": {
                "tags": tags,
                "summary": "One subscription",
                "operationId": "showSubscription",
                "parameters": [_SUB_ID],
                "responses": {
                    "200": _json(_ref("SubscriptionEnvelope"), "the subscription"),
                    **_errors(404),
                },
            },
            "delete": {
                "tags": tags,
                "summary": "Delete a subscription",
                "operationId": "deleteSubscription",
                "parameters": [_SUB_ID],
                "responses": {"204": {"description": "deleted"}, **_errors(404)},
            },
        },
        "/subscriptions/{id}/events": {
            "get": {
                "tags": tags,
                "summary": "The session's next batch (the same one until it is committed)",
                "operationId": "fetchEvents",
                "parameters": [
                    _SUB_ID,
                    {
                        "name": "session",
                        "in": "query",
                        "required": False,
                        "description": "this client's name; sessions share the partitions",
                        "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                    },
                    {
                        "name": "max",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                    {
                        "name": "wait",
                        "in": "query",
                        "required": False,
                        "description": "seconds to long-poll for the first event",
                        "schema": {"type": "number", "minimum": 0, "maximum": 30},
                    },
                ],
                "responses": {"200": _json(_ref("Batch"), "a batch"), **_errors(400, 403, 404)},
            }
        },
        "/subscriptions/{id}/commit": {
            "post": {
                "tags": tags,
                "summary": "Commit the session's batch: its events will not come again",
                "operationId": "commitBatch",
                "parameters": [_SUB_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["batch"],
                                "properties": {
                                    "batch": {"type": "string"},
                                    "session": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "204": {"description": "committed"},
                    **_errors(400, 403, 404, 409, 413),
                },
            }
        },
    }


def _webhook_paths() -> dict[str, Any]:
    tags = ["webhooks"]
    return {
        "/webhooks": {
            "get": {
                "tags": tags,
                "summary": "The app's webhooks",
                "operationId": "listWebhooks",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["webhooks"],
                            "properties": {"webhooks": {"type": "array", "items": _ref("Webhook")}},
                        },
                        "webhooks",
                    ),
                    **_errors(),
                },
            },
            "post": {
                "tags": tags,
                "summary": "Push events to a URL, signed per Standard Webhooks",
                "operationId": "createWebhook",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("NewWebhook")}},
                },
                "responses": {
                    "201": _json(_ref("WebhookWithSecret"), "created"),
                    **_errors(400, 403, 413),
                },
            },
        },
        "/webhooks/{id}": {
            "get": {
                "tags": tags,
                "summary": "One webhook",
                "operationId": "showWebhook",
                "parameters": [_SUB_ID],
                "responses": {"200": _json(_ref("WebhookEnvelope"), "the webhook"), **_errors(404)},
            },
            "delete": {
                "tags": tags,
                "summary": "Delete a webhook",
                "operationId": "deleteWebhook",
                "parameters": [_SUB_ID],
                "responses": {"204": {"description": "deleted"}, **_errors(404)},
            },
        },
        "/webhooks/{id}/rotate-secret": {
            "post": {
                "tags": tags,
                "summary": "A new signing secret; the old one signs too during the grace period",
                "operationId": "rotateWebhookSecret",
                "parameters": [_SUB_ID],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grace_seconds": {
                                        "type": "number",
                                        "minimum": 0,
                                        "maximum": 2592000,
                                    }
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("WebhookWithSecret"), "rotated"),
                    **_errors(400, 404, 413),
                },
            }
        },
    }


def _admin(op: dict[str, Any]) -> dict[str, Any]:
    op.setdefault("tags", ["apps (admin)"])
    op["responses"] = {**op["responses"], **_errors(400, 403, 404, 409, 413)}
    return op


def document(server_url: str | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "bizevents gateway",
            "version": "1",
            "description": "Publish business events over HTTP and manage the apps that may. "
            "Every endpoint needs `Authorization: Bearer <API key>`; errors are RFC 9457 "
            "problem+json.",
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/events": {"post": _publish_cloudevents()},
            "/events/{type}": {"post": _publish_plain()},
            "/api/me": {
                "get": {
                    "summary": "The app this key belongs to",
                    "operationId": "whoAmI",
                    "responses": {
                        "200": {
                            "description": "the caller",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["app", "admin", "key_id"],
                                        "properties": {
                                            "app": {"type": "string"},
                                            "admin": {"type": "boolean"},
                                            "key_id": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        },
                        **_errors(),
                    },
                }
            },
            "/api/apps": {
                "get": _admin(
                    {
                        "summary": "List apps",
                        "operationId": "listApps",
                        "responses": {
                            "200": {
                                "description": "every app",
                                "content": {
                                    "application/json": {
                                        "schema": {
                                            "type": "object",
                                            "required": ["apps"],
                                            "properties": {
                                                "apps": {"type": "array", "items": _ref("App")}
                                            },
                                        }
                                    }
                                },
                            }
                        },
                    }
                ),
                "post": _admin(
                    {
                        "summary": "Create an app and its first API key (shown once)",
                        "operationId": "createApp",
                        "requestBody": {
                            "required": True,
                            "content": {"application/json": {"schema": _ref("NewApp")}},
                        },
                        "responses": {"201": _app_response("created", with_key=True)},
                    }
                ),
            },
            "/api/apps/{name}": {
                "get": _admin(
                    {
                        "summary": "Show an app, its keys (ids only) and grants",
                        "operationId": "showApp",
                        "parameters": [_APP_NAME],
                        "responses": {"200": _app_response("the app")},
                    }
                )
            },
            "/api/apps/{name}/rotate": {
                "post": _admin(
                    {
                        "summary": "A new key; current keys stay valid for the grace period",
                        "operationId": "rotateKey",
                        "parameters": [_APP_NAME],
                        "requestBody": {
                            "required": False,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "grace_seconds": {
                                                "type": "number",
                                                "minimum": 0,
                                                "maximum": 31536000,
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {"200": _app_response("rotated", with_key=True)},
                    }
                )
            },
            "/api/apps/{name}/revoke": {
                "post": _admin(
                    {
                        "summary": "Revoke the app (all keys) or one key, at once",
                        "operationId": "revoke",
                        "parameters": [_APP_NAME],
                        "requestBody": {
                            "required": False,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"key_id": {"type": "string"}},
                                    }
                                }
                            },
                        },
                        "responses": {"200": _app_response("revoked")},
                    }
                )
            },
            "/api/apps/{name}/grants": {
                "post": _admin(
                    {
                        "summary": "Grant publish or subscribe on a type (or '*')",
                        "operationId": "addGrant",
                        "parameters": [_APP_NAME],
                        "requestBody": {
                            "required": True,
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["grant"],
                                        "properties": {
                                            "grant": {
                                                "type": "string",
                                                "pattern": "^(publish|subscribe):.+$",
                                            }
                                        },
                                    }
                                }
                            },
                        },
                        "responses": {"200": _app_response("granted")},
                    }
                )
            },
            "/api/apps/{name}/grants/{action}/{event_type}": {
                "delete": _admin(
                    {
                        "summary": "Remove a grant",
                        "operationId": "removeGrant",
                        "parameters": [
                            _APP_NAME,
                            {
                                "name": "action",
                                "in": "path",
                                "required": True,
                                "schema": {"enum": ["publish", "subscribe"]},
                            },
                            {
                                "name": "event_type",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            },
                        ],
                        "responses": {"200": _app_response("removed")},
                    }
                )
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an app's API key (bze_...) or the broker's admin token",
                }
            },
            "schemas": SCHEMAS,
        },
    }
    doc["paths"].update(_subscription_paths())
    doc["paths"].update(_webhook_paths())
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }}
.op {{ border-left: 3px solid #99c; padding-left: 1em; margin: 1.2em 0; }}
.method {{ font-weight: bold; text-transform: uppercase; }}
pre {{ background: #f6f6f6; padding: .6em; overflow-x: auto; }}
</style></head><body>
<h1>{title}</h1><p>{description}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {version}).</p>
{operations}
<h2>Schemas</h2>{schemas}
</body></html>
"""


def _block(value: Any) -> str:
    return f"<pre>{escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def render_page(doc: dict[str, Any]) -> str:
    """Every operation with its parameters, request body and responses; then the schemas."""
    parts = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            params = "".join(
                f"<li><code>{escape(p['name'])}</code> ({escape(p['in'])}"
                f"{', required' if p.get('required') else ''}) "
                f"{escape(p.get('description', ''))}</li>"
                for p in op.get("parameters", [])
            )
            body = op.get("requestBody", {}).get("content", {})
            bodies = "".join(
                f"<li><code>{escape(media)}</code>{_block(spec.get('schema', {}))}</li>"
                for media, spec in body.items()
            )
            responses = "".join(
                f"<li><b>{escape(code)}</b> {escape(r.get('description', ''))}</li>"
                for code, r in op["responses"].items()
            )
            parts.append(
                f'<section class="op" id="{escape(op.get("operationId", ""))}">'
                f'<h2><span class="method">{escape(method)}</span> <code>{escape(path)}</code></h2>'
                f"<p>{escape(op.get('summary', ''))}</p>"
                f"<p>{escape(op.get('description', ''))}</p>"
                + (f"<h3>Parameters</h3><ul>{params}</ul>" if params else "")
                + (f"<h3>Request body</h3><ul>{bodies}</ul>" if bodies else "")
                + f"<h3>Responses</h3><ul>{responses}</ul></section>"
            )
    schemas = "".join(
        f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>{_block(schema)}'
        for name, schema in doc["components"]["schemas"].items()
    )
    info = doc["info"]
    return _PAGE.format(
        title=escape(info["title"]),
        description=escape(info.get("description", "")),
        version=escape(doc["openapi"]),
        operations="\n".join(parts),
        schemas=schemas,
    )
