"""The broker's /ops page in headless Chromium against the live flow: real numbers from
Prometheus, dead letters listed with hostile event data shown as text, replay and purge from the
page (admin token required), and the screenshot in the README."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from .browser import CHROMIUM, Browser
from .live import ADMIN_TOKEN, HOSTILE, ROOT, Live, wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.timeout(300),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is missing (deploy/run.sh installs it)"),
]
SCREENSHOT = ROOT / "docs" / "ops-page.png"


class Parsed(HTMLParser):
    """Tags, text, and the text of elements marked with data-field / data-group / data-letter."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(html)
    return parsed


async def dead_letters(live: Live) -> list[Any]:
    conn = await asyncpg.connect(live.database_url)
    try:
        return list(
            await conn.fetch(
                f"SELECT id, status, replay_count, record_value FROM {live.schema}.dead_letters "
                "ORDER BY id"
            )
        )
    finally:
        await conn.close()


async def test_the_page_shows_the_live_flow_and_escapes_event_data(
    live: Live, tmp_path: Path
) -> None:
    async with Browser(tmp_path / "profile") as browser:
        await browser.open(f"{live.broker_url}/ops")
        html = await browser.html()
        title = await browser.evaluate("document.title")
        images = await browser.evaluate("document.images.length")
        outbox = await browser.evaluate(
            f"document.querySelector('[data-schema=\"{live.schema}\"]').innerText"
        )
        group_row = await browser.evaluate(
            f"document.querySelector('tr[data-group=\"{live.group}\"]').innerText"
        )
        await browser.screenshot(tmp_path / "ops.png")
    assert title == "bizevents operations"  # the hostile payload did not run
    assert images == 0  # nor became an element
    assert "data from prometheus" in html
    assert "pending rows" in outbox and "active relays: 1, 1 standing by" in outbox
    assert "relayed" in outbox and "Kafka reachable, last send" in outbox
    cells = group_row.split("\t")
    assert cells[0] == live.group
    assert re.fullmatch(r"[0-9,]+", cells[1]), cells  # the lag, a number from Prometheus
    assert cells[4] == "2"  # dead letters waiting in the store
    text = "".join(parse(html).text)
    assert HOSTILE in text  # shown as text
    assert live.refused in text and live.placed in text  # flows per event type
    assert "RuntimeError: invoicing refused for o-bad" in text
    assert (tmp_path / "ops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("BIZEVENTS_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(tmp_path / "ops.png", SCREENSHOT)


async def test_replay_and_purge_from_the_page(live: Live, tmp_path: Path) -> None:
    letters = await dead_letters(live)
    assert len(letters) == 2
    plain = next(r for r in letters if b"o-bad" in (r["record_value"] or b""))
    hostile = next(r for r in letters if r["id"] != plain["id"])
    before = live.value(f'bizevents_worker_dead_letters_total{{group="{live.group}"}}')
    async with Browser(tmp_path / "profile") as browser:
        await browser.open(f"{live.broker_url}/ops/dead-letters/{hostile['id']}")
        assert await browser.evaluate("document.images.length") == 0
        shown = await browser.evaluate("document.querySelector('[data-field=event]').innerText")
        assert json.dumps(HOSTILE) in shown  # pretty-printed JSON, as text

        # A wrong token is refused and changes nothing.
        await browser.open(f"{live.broker_url}/ops/dead-letters/{plain['id']}")
        await browser.submit('form[action$="/replay"]', {"token": "wrong"})
        assert "the admin token is missing or wrong" in await browser.html()

        await browser.open(f"{live.broker_url}/ops/dead-letters/{plain['id']}")
        await browser.submit('form[action$="/replay"]', {"token": ADMIN_TOKEN})
        url = await browser.evaluate("location.href")
        assert url.endswith(f"/ops/dead-letters/{plain['id']}?done=replayed")
        assert "Replayed" in await browser.html()

        await browser.open(f"{live.broker_url}/ops/dead-letters/{hostile['id']}")
        await browser.submit('form[action$="/purge"]', {"token": ADMIN_TOKEN})
        assert "Purged." in await browser.html()
        assert "purged: the event bytes are gone" in await browser.html()

    # The replayed event went through the worker again (its handler refuses it again).
    await wait_for(
        "the replayed event to be handled again",
        lambda: live.value(f'bizevents_worker_dead_letters_total{{group="{live.group}"}}') > before,
    )
    after = {r["id"]: r for r in await dead_letters(live)}
    assert after[plain["id"]]["replay_count"] == 1
    assert after[hostile["id"]]["status"] == "purged"
    assert after[hostile["id"]]["record_value"] is None


async def test_actions_need_the_token_and_bad_input_is_a_4xx(live: Live) -> None:
    first = (await dead_letters(live))[0]
    letter = first["id"]
    async with httpx.AsyncClient(base_url=live.broker_url, timeout=30) as http:
        bare = await http.post(f"/ops/dead-letters/{letter}/purge")
        assert bare.status_code == 401
        header = await http.post(
            f"/ops/dead-letters/{letter}/purge", headers={"Authorization": "Bearer nope"}
        )
        assert header.status_code == 401
        for bad in ("x", "99999999999999999999", "-1"):
            assert (await http.get(f"/ops/dead-letters/{bad}")).status_code == 404
        assert (await http.get("/ops/dead-letters/987654321")).status_code == 404
        huge = await http.post(f"/ops/dead-letters/{letter}/replay", content=b"t" * 10_000)
        assert huge.status_code == 413
        page = await http.get("/ops")
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]
        data = (await http.get("/ops/overview.json")).json()
    assert data["source"] == "prometheus"
    outbox = next(o for o in data["outboxes"] if o["schema"] == live.schema)
    assert outbox["active_relays"] == 1 and outbox["relay_holder"].startswith("bizevents-relay:")
    group = next(g for g in data["groups"] if g["group"] == live.group)
    assert group["lag"] is not None and group["per_second"]
    assert (await dead_letters(live))[0]["status"] == first["status"]  # refused: nothing changed
