"""The contract docs page: services, their events, payload schemas, publishers and subscribers.

Pure: registry rows in, HTML out. Every value goes through `html.escape` (contract text is user
input); the page needs no script, and the route forbids scripts by Content-Security-Policy too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from string import Template
from typing import Any
from urllib.parse import quote

from bizevents.contracts.diff import diff_event
from bizevents.contracts.registry import ContractVersion, StoredServiceDocument

from .docs_fields import example, field_rows, plural, retention_words


@dataclass(frozen=True)
class EventView:
    event_type: str
    version: int
    service: str
    description: str
    topic: str
    source: str
    key_field: str | None
    compatibility: str
    publishers: tuple[str, ...]
    subscribers: tuple[str, ...]
    deprecated: bool
    schema: dict[str, Any]
    retention_ms: int | None = None
    deprecated_at: str = ""
    deprecation_reason: str = ""
    # (version, registered date, the changes from the version before), oldest first.
    history: tuple[tuple[int, str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class ServiceView:
    name: str
    version: str
    owner: str
    description: str
    has_document: bool
    events: tuple[EventView, ...]


def _history(versions: Sequence[ContractVersion]) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    out = []
    previous: ContractVersion | None = None
    for v in versions:
        when = v.registered_at.date().isoformat() if v.registered_at else ""
        if previous is None:
            changes: tuple[str, ...] = ("first version",)
        else:
            found = diff_event(previous.event_contract(), v.event_contract())
            changes = tuple(c.message for c in found) or ("no change to the contract",)
        out.append((v.version, when, changes))
        previous = v
    return tuple(out)


def _event_view(v: ContractVersion, history: Sequence[ContractVersion] = ()) -> EventView:
    c = v.contract
    return EventView(
        event_type=v.event_type,
        version=v.version,
        service=v.service,
        description=str(c.get("description") or ""),
        topic=str(c.get("topic") or ""),
        source=str(c.get("source") or ""),
        key_field=c.get("key_field"),
        compatibility=v.compatibility.value,
        publishers=tuple(c.get("publishers") or ()),
        subscribers=tuple(c.get("subscribers") or ()),
        deprecated=v.deprecated,
        schema=v.schema,
        retention_ms=c.get("retention_ms"),
        deprecated_at=v.deprecated_at.date().isoformat() if v.deprecated_at else "",
        deprecation_reason=v.deprecation_reason or "",
        history=_history(history),
    )


def build_views(
    latest: Iterable[ContractVersion],
    documents: Iterable[StoredServiceDocument],
    histories: Mapping[str, Sequence[ContractVersion]] | None = None,
    query: str = "",
) -> list[ServiceView]:
    """Group the latest version of every event type by service, with the service's document;
    with `query`, only events whose type, service, description or fields mention it."""
    docs = {d.service: d for d in documents}
    events: dict[str, list[EventView]] = {}
    needle = query.strip().lower()
    for version in latest:
        view = _event_view(version, (histories or {}).get(version.event_type, ()))
        if needle and needle not in _searchable(view):
            continue
        events.setdefault(version.service, []).append(view)
    if needle:
        docs = {name: doc for name, doc in docs.items() if name in events}
    views = []
    for name in sorted(set(events) | set(docs)):
        doc = docs.get(name)
        info: dict[str, Any] = (doc.document.get("info") or {}) if doc else {}
        owner = info.get("x-bizevents-owner") or ""
        views.append(
            ServiceView(
                name=name,
                version=doc.version if doc else "",
                owner=str(owner),
                description=str(info.get("description") or ""),
                has_document=doc is not None,
                events=tuple(sorted(events.get(name, []), key=lambda e: e.event_type)),
            )
        )
    return views


def _searchable(e: EventView) -> str:
    fields = " ".join(f"{r.name} {r.description}" for r in field_rows(e.schema))
    return f"{e.event_type} {e.service} {e.description} {e.topic} {fields}".lower()


def _apps(services: Sequence[ServiceView]) -> dict[str, tuple[list[str], list[str]]]:
    apps: dict[str, tuple[list[str], list[str]]] = {}
    for service in services:
        for event in service.events:
            for app in event.publishers:
                apps.setdefault(app, ([], []))[0].append(event.event_type)
            for app in event.subscribers:
                apps.setdefault(app, ([], []))[1].append(event.event_type)
    return dict(sorted(apps.items()))


def _names(values: Iterable[str], css: str) -> str:
    items = "".join(f'<li class="{css}">{escape(v)}</li>' for v in values)
    return f"<ul>{items}</ul>" if items else "<em>none</em>"


def _anchor(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)


_EVENT = Template(
    """<article class="event" id="event-$anchor" data-event-type="$event_type">
<h3><code>$event_type</code> <span class="badge">v$version</span>$deprecated</h3>
<p class="description">$description</p>
<table class="facts">
<tr><th>Topic</th><td class="topic"><code>$topic</code></td></tr>
<tr><th>CloudEvents source</th><td class="source"><code>$source</code></td></tr>
<tr><th>Ordering key</th><td class="key"><code>$key</code></td></tr>
<tr><th>Compatibility</th><td class="compatibility">$compatibility</td></tr>
<tr><th>Published by</th><td class="publishers">$publishers</td></tr>
<tr><th>Subscribed by</th><td class="subscribers">$subscribers</td></tr>
<tr><th>Retention</th><td class="retention">$retention</td></tr>
$deprecation</table>
<h4>Fields</h4>
<table class="fields"><tr><th>Field</th><th>Type</th><th>Required</th><th>Constraints</th>
<th>Description</th></tr>
$fields</table>
<h4>Example payload (generated from the schema)</h4>
<pre class="example">$example</pre>
<h4>Versions</h4>
<ol class="history">$history</ol>
<details><summary>Payload schema (JSON Schema)</summary><pre class="schema">$schema</pre></details>
</article>"""
)

_SERVICE = Template(
    """<section class="service" id="service-$anchor" data-service="$name">
<h2>$name <span class="badge">$version</span></h2>
<p class="owner">Owner: $owner</p>
<p class="description">$description</p>
<p class="links">$links</p>
$events
</section>"""
)

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; padding: 0 1rem; }
.badge { font-size: .7em; background: #eef; border-radius: .3em; padding: .1em .4em; }
.deprecated { background: #fdd; }
table { border-collapse: collapse; } th, td { text-align: left; padding: .2em .6em; }
td ul { margin: 0; padding-left: 1.2em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; }
article.event { border-left: 3px solid #99c; padding-left: 1em; margin: 1.5em 0; }
</style>
</head>
<body>
<h1>$title</h1>
<form id="search" method="get" action="/docs/contracts">
<input type="search" name="q" value="$query" placeholder="event type, service or field">
<button type="submit">Search</button></form>
<p id="summary">$summary</p>
<nav><h2>Services</h2><ul id="services">$toc</ul></nav>
<section id="apps"><h2>Apps</h2>
<table><tr><th>App</th><th>Publishes</th><th>Subscribes to</th></tr>
$apps</table></section>
$services
</body>
</html>
"""
)


def _render_event(e: EventView) -> str:
    return _EVENT.substitute(
        anchor=escape(_anchor(e.event_type)),
        event_type=escape(e.event_type),
        version=e.version,
        deprecated=' <span class="badge deprecated">deprecated</span>' if e.deprecated else "",
        description=escape(e.description),
        topic=escape(e.topic),
        source=escape(e.source),
        key=escape(e.key_field or "none"),
        compatibility=escape(e.compatibility),
        publishers=_names(e.publishers, "publisher"),
        subscribers=_names(e.subscribers, "subscriber"),
        schema=escape(json.dumps(e.schema, indent=2, ensure_ascii=False)),
        retention=escape(retention_words(e.retention_ms)),
        deprecation=(
            '<tr class="deprecation"><th>Deprecated</th><td>'
            + escape(
                " ".join(
                    p
                    for p in (
                        f"since {e.deprecated_at}" if e.deprecated_at else "",
                        e.deprecation_reason,
                    )
                    if p
                )
                or "yes"
            )
            + "</td></tr>\n"
            if e.deprecated
            else ""
        ),
        fields="\n".join(
            f'<tr class="field"><td><code>{escape(r.name)}</code></td><td>{escape(r.type)}</td>'
            f"<td>{'yes' if r.required else 'no'}</td><td>{escape(r.constraints)}</td>"
            f"<td>{escape(r.description)}</td></tr>"
            for r in field_rows(e.schema)
        ),
        example=escape(json.dumps(example(e.schema), indent=2, ensure_ascii=False)),
        history="".join(
            f'<li value="{version}" class="version">v{version}'
            + (f" ({escape(when)})" if when else "")
            + "<ul>"
            + "".join(f"<li>{escape(c)}</li>" for c in changes)
            + "</ul></li>"
            for version, when, changes in e.history
        )
        or f'<li value="{e.version}" class="version">v{e.version}</li>',
    )


def _render_service(s: ServiceView) -> str:
    name = escape(s.name)
    links = ""
    if s.has_document:
        # Service names come from documents: quote them for the URL, escape for the attribute.
        href = escape(quote(s.name, safe=""))
        links = (
            f'AsyncAPI document: <a href="/asyncapi/{href}.yaml">YAML</a> · '
            f'<a href="/asyncapi/{href}.json">JSON</a>'
        )
    return _SERVICE.substitute(
        anchor=escape(_anchor(s.name)),
        name=name,
        version=escape(s.version),
        owner=escape(s.owner or "unknown"),
        description=escape(s.description),
        links=links,
        events="\n".join(_render_event(e) for e in s.events) or "<p><em>no events</em></p>",
    )


def render_page(
    services: Sequence[ServiceView], title: str = "Business event contracts", query: str = ""
) -> str:
    events = sum(len(s.events) for s in services)
    toc = "".join(
        f'<li><a href="#service-{escape(_anchor(s.name))}">{escape(s.name)}</a> '
        f"({plural(len(s.events), 'event')})</li>"
        for s in services
    )
    apps = "\n".join(
        f'<tr class="app" data-app="{escape(app)}"><td>{escape(app)}</td>'
        f"<td>{_names(pub, 'publishes')}</td><td>{_names(sub, 'subscribes')}</td></tr>"
        for app, (pub, sub) in _apps(services).items()
    )
    return _PAGE.substitute(
        title=escape(title),
        query=escape(query),
        summary=(
            f"{plural(len(services), 'service')}, {plural(events, 'event type')} "
            "(latest registered versions)" + (f", matching {escape(query)!r}." if query else ".")
        ),
        toc=toc or "<li><em>nothing registered yet</em></li>",
        apps=apps,
        services="\n".join(_render_service(s) for s in services),
    )
