"""The contract docs page: services, their events, payload schemas, publishers and subscribers.

Pure: registry rows in, HTML out. Every value goes through `html.escape` (contract text is user
input); the page needs no script, and the route forbids scripts by Content-Security-Policy too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from string import Template
from typing import Any
from urllib.parse import quote

from bizevents.contracts.registry import ContractVersion, StoredServiceDocument


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


@dataclass(frozen=True)
class ServiceView:
    name: str
    version: str
    owner: str
    description: str
    has_document: bool
    events: tuple[EventView, ...]


def _event_view(v: ContractVersion) -> EventView:
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
    )


def build_views(
    latest: Iterable[ContractVersion], documents: Iterable[StoredServiceDocument]
) -> list[ServiceView]:
    """Group the latest version of every event type by service, with the service's document."""
    docs = {d.service: d for d in documents}
    events: dict[str, list[EventView]] = {}
    for version in latest:
        events.setdefault(version.service, []).append(_event_view(version))
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
</table>
<details><summary>Payload schema</summary><pre class="schema">$schema</pre></details>
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


def render_page(services: Sequence[ServiceView], title: str = "Business event contracts") -> str:
    events = sum(len(s.events) for s in services)
    toc = "".join(
        f'<li><a href="#service-{escape(_anchor(s.name))}">{escape(s.name)}</a> '
        f"({len(s.events)} events)</li>"
        for s in services
    )
    apps = "\n".join(
        f'<tr class="app" data-app="{escape(app)}"><td>{escape(app)}</td>'
        f"<td>{_names(pub, 'publishes')}</td><td>{_names(sub, 'subscribes')}</td></tr>"
        for app, (pub, sub) in _apps(services).items()
    )
    return _PAGE.substitute(
        title=escape(title),
        summary=f"{len(services)} services, {events} event types (latest registered versions).",
        toc=toc or "<li><em>nothing registered yet</em></li>",
        apps=apps,
        services="\n".join(_render_service(s) for s in services),
    )
