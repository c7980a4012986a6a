"""The `/ops` pages. Pure: an overview and dead letters in, HTML out.

Every value that came from events, handlers or settings goes through `html.escape`; the pages
carry no script, and the routes forbid scripts by Content-Security-Policy as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from bizevents.deadletter import StoredDeadLetter
from bizevents.ops.overview import Overview

from .svg import line_plot

NONE = "\N{EN DASH}"  # shown where a value is unknown

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5rem 2rem;color:#222;background:#fafafa}
h1{font-size:1.4rem;margin:1rem 0 .2rem} h2{font-size:1.1rem;margin:1.4rem 0 .4rem}
.meta{color:#666;font-size:.85rem}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;min-width:12rem}
.card .big{font-size:1.6rem;font-weight:600}
.bad{color:#b00020} .ok{color:#137333}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border-bottom:1px solid #eee;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0;font-weight:600} td.num{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:1rem}
.plot-box{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem}
.legend{list-style:none;padding:0;margin:.2rem 0;font-size:.85rem}
.swatch{display:inline-block;width:.7rem;height:.7rem;margin-right:.3rem}
.axis,.none{color:#666;font-size:.8rem;margin:0}
.problems{background:#fff4e5;border:1px solid #f0c36d;padding:.5rem .8rem;border-radius:6px}
pre{background:#fff;border:1px solid #ddd;padding:.6rem;overflow:auto;max-height:24rem}
form.inline{display:inline-block;margin-right:1rem}
code{font-size:.9em}
"""


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return NONE
    return f"{value:,.{digits}f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _page(title: str, body: str, refresh: int | None = None) -> str:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _outboxes(overview: Overview) -> str:
    if not overview.outboxes:
        return '<p class="none">No outbox reported.</p>'
    cards = []
    for o in overview.outboxes:
        leader = o.active_relays
        relay_class = "ok" if leader == 1 else "bad"
        holder = f"<div class=meta>lock: {escape(o.relay_holder)}</div>" if o.relay_holder else ""
        standby = f", {o.standby_relays} standing by" if o.standby_relays is not None else ""
        by_type = "".join(
            f"<li><code>{escape(t)}</code> {n:,}</li>" for t, n in o.pending_by_type.items()
        )
        cards.append(
            f'<div class="card outbox" data-schema="{escape(o.schema)}">'
            f"<div>outbox <b>{escape(o.schema)}</b></div>"
            f'<div class="big" data-field="pending">{_num(o.pending)}</div><div>pending rows</div>'
            f'<div data-field="age">oldest waits {_age(o.oldest_age_seconds)}</div>'
            f'<div class="{relay_class}" data-field="leader">active relays: {_num(leader)}'
            f"{standby}</div>{holder}"
            f'<div data-field="rate">relayed {_num(o.relayed_per_second, 1)} events/s</div>'
            + (
                f'<div class="{"ok" if o.kafka_up else "bad"}" data-field="kafka">Kafka '
                f"{'reachable' if o.kafka_up else 'UNREACHABLE'}, last send "
                f"{_age(o.since_last_send_seconds)} ago</div>"
                if o.kafka_up is not None
                else ""
            )
            + (f'<ul class="legend">{by_type}</ul>' if by_type else "")
            + "</div>"
        )
    return f'<div class="cards">{"".join(cards)}</div>'


def _groups(overview: Overview) -> str:
    if not overview.groups:
        return '<p class="none">No subscriber group reported.</p>'
    rows = []
    for g in overview.groups:
        outcomes = ", ".join(f"{escape(k)} {v:.2f}/s" for k, v in g.per_second.items() if v) or NONE
        dead = g.dead_letters_stored
        link = (
            f'<a href="/ops?group={quote(g.group)}#dead-letters">{dead:,}</a>'
            if dead
            else _num(dead)
        )
        rows.append(
            f'<tr data-group="{escape(g.group)}"><td>{escape(g.group)}</td>'
            f'<td class="num" data-field="lag">{_num(g.lag)}</td><td>{outcomes}</td>'
            f'<td class="num">{_num(g.dead_letters_last_hour)}</td>'
            f'<td class="num" data-field="dead">{link}</td></tr>'
        )
    return (
        "<table><tr><th>group</th><th>lag (messages)</th><th>handled by outcome</th>"
        "<th>dead letters, last hour</th><th>dead letters waiting</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _flows(overview: Overview) -> str:
    if not overview.flows:
        return ""
    rows = "".join(
        f'<tr data-type="{escape(f.event_type)}"><td><code>{escape(f.event_type)}</code></td>'
        f'<td>{escape(f.group)}</td><td class="num">{f.per_second:.2f}</td>'
        f'<td class="num" data-field="total">{_num(f.total)}</td></tr>'
        for f in overview.flows
    )
    return (
        "<h2>Flows per event type</h2><table><tr><th>event type</th><th>group</th>"
        f"<th>handler runs/s (5 min)</th><th>handler runs (since start)</th></tr>{rows}</table>"
    )


def _plots(overview: Overview) -> str:
    if not overview.plots:
        return ""
    boxes = "".join(
        f'<div class="plot-box"><div><b>{escape(p.title)}</b></div>'
        f"{line_plot(p.series, p.unit)}</div>"
        for p in overview.plots
    )
    return f'<h2>Last minutes</h2><div class="plots">{boxes}</div>'


def _error(d: StoredDeadLetter) -> str:
    return d.error if d.error.startswith(d.error_type) else f"{d.error_type}: {d.error}"


def preview(value: bytes | None, limit: int = 120) -> str:
    if value is None:
        return ""
    text = value.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def _letters(letters: Sequence[StoredDeadLetter], group: str | None) -> str:
    heading = f"Dead letters of {escape(group)}" if group else "Dead letters"
    if not letters:
        return f'<h2 id="dead-letters">{heading}</h2><p class="none">None waiting.</p>'
    rows = "".join(
        f'<tr data-letter="{d.id}"><td><a href="/ops/dead-letters/{d.id}">#{d.id}</a></td>'
        f"<td>{escape(d.group)}</td><td><code>{escape(d.event_type or '?')}</code></td>"
        f"<td>{escape(_error(d))}</td><td>{escape(d.status.value)}</td>"
        f"<td>{escape(d.last_failure.isoformat(timespec='seconds'))}</td>"
        f"<td><code>{escape(preview(d.value))}</code></td></tr>"
        for d in letters
    )
    return (
        f'<h2 id="dead-letters">{heading}</h2><table><tr><th>id</th><th>group</th>'
        "<th>event type</th><th>error</th><th>status</th><th>last failure</th><th>event</th>"
        f"</tr>{rows}</table>"
    )


def render_overview(
    overview: Overview,
    letters: Sequence[StoredDeadLetter],
    *,
    group: str | None = None,
    now: datetime,
    refresh: int = 15,
) -> str:
    problems = "".join(f"<li>{escape(p)}</li>" for p in overview.problems)
    body = (
        "<h1>bizevents operations</h1>"
        f'<p class="meta">data from {escape(overview.source)} at '
        f"{escape(now.isoformat(timespec='seconds'))}; refreshes every {refresh} s · "
        '<a href="/ops/overview.json">JSON</a> · <a href="/docs/contracts">contracts</a></p>'
        + (f'<div class="problems"><ul>{problems}</ul></div>' if problems else "")
        + "<h2>Outbox and relay</h2>"
        + _outboxes(overview)
        + "<h2>Subscriber groups</h2>"
        + _groups(overview)
        + _flows(overview)
        + _plots(overview)
        + _letters(letters, group)
    )
    return _page("bizevents operations", body, refresh)


def _pretty(value: bytes | None) -> str:
    if value is None:
        return "(purged: the event bytes are gone)"
    text = value.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def render_letter(letter: StoredDeadLetter, *, notice: str | None = None) -> str:
    d = letter
    facts: list[tuple[str, Any]] = [
        ("group", d.group),
        ("event type", d.event_type or "?"),
        ("event id", d.event_id or "?"),
        ("source", d.event_source or "?"),
        ("status", d.status.value),
        ("error", _error(d)),
        ("attempts", d.attempts),
        ("first failure", d.first_failure.isoformat(timespec="seconds")),
        ("last failure", d.last_failure.isoformat(timespec="seconds")),
        ("from", f"{d.original_topic} [{d.original_partition}] @ {d.original_offset}"),
        ("key", d.key.decode("utf-8", "replace") if d.key is not None else ""),
        ("replayed", f"{d.replay_count} time(s)"),
    ]
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in facts)
    headers = "".join(
        f"<tr><td><code>{escape(k)}</code></td>"
        f"<td><code>{escape(v.decode('utf-8', 'replace'))}</code></td></tr>"
        for k, v in d.headers
    )
    actions = ""
    if d.status.value != "purged":
        field = '<input type="password" name="token" placeholder="admin token" required>'
        actions = (
            "<h2>Actions</h2>"
            f'<form class="inline" method="post" action="/ops/dead-letters/{d.id}/replay">'
            f'{field} <button type="submit" name="action" value="replay">Replay</button></form>'
            f'<form class="inline" method="post" action="/ops/dead-letters/{d.id}/purge">'
            f'{field} <button type="submit" name="action" value="purge">Purge</button></form>'
            '<p class="meta">Replay sends the event to the group\'s replay topic: its handler '
            "runs again. Purge drops the event bytes and keeps the record.</p>"
        )
    body = (
        f'<p><a href="/ops">← operations</a></p><h1>Dead letter #{d.id}</h1>'
        + (f'<p class="problems" data-notice>{escape(notice)}</p>' if notice else "")
        + f"<table>{rows}</table><h2>Event</h2>"
        + f"<pre data-field=event>{escape(_pretty(d.value))}</pre>"
        + f"<h2>Headers</h2><table>{headers}</table>"
        + f"<h2>Stack</h2><pre>{escape(d.stack)}</pre>"
        + actions
    )
    return _page(f"dead letter #{d.id}", body)


def render_message(title: str, message: str) -> str:
    body = f'<p><a href="/ops">← operations</a></p><h1>{escape(title)}</h1><p>{escape(message)}</p>'
    return _page(title, body)
