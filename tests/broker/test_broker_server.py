"""The real broker (`bizevents broker serve`, uvicorn, a subprocess on a free port): the API over
the network, and the docs page as headless Chromium renders it."""

from __future__ import annotations

import asyncio
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest

from bizevents.contracts import load_contracts
from bizevents.contracts.registry import Registry
from servers import free_port, host_port, stop_process, wait_healthy
from worker.tcp_proxy import CuttableProxy

from .conftest import BIZEVENTS, CONTRACTS, HOSTILE, INVENTORY_YAML, Server

pytestmark = pytest.mark.services

CHROMIUM = shutil.which("chromium")
RESERVED = "com.acme.inventory.StockReserved.v1"


async def test_serves_the_registry_and_documents_over_http(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        assert (await http.get("/healthz")).json()["status"] == "ok"
        listed = (await http.get("/api/registry/event-types")).json()["event_types"]
        examples = set(load_contracts(CONTRACTS).event_types)
        assert examples <= {e["event_type"] for e in listed}  # registered at start-up

        posted = await http.post("/api/registry/contracts", content=INVENTORY_YAML)
        assert posted.status_code in (200, 201), posted.text
        got = await http.get(f"/api/registry/event-types/{RESERVED}/versions/latest")
        assert got.json()["contract"]["subscribers"] == ["orders"]

        doc = (await http.get("/asyncapi/inventory.json")).json()
        assert doc["channels"]["stockReserved"]["address"] == RESERVED

        root = await http.get("/", follow_redirects=False)
        assert root.status_code in (302, 307) and root.headers["location"] == "/docs/contracts"
        page = await http.get("/docs/contracts")
        assert "script-src" not in page.headers["content-security-policy"]
        assert "default-src 'none'" in page.headers["content-security-policy"]

        metrics = (await http.get("/metrics")).text
        assert (
            'bizevents_broker_http_requests_total{method="POST",route="/api/registry/contracts"'
            in (metrics)
        )


class _Events(HTMLParser):
    """Collects, per rendered event article: its publishers, subscribers and text."""

    def __init__(self) -> None:
        super().__init__()
        self.events: dict[str, dict[str, list[str]]] = {}
        self.services: list[str] = []
        self.img_tags = 0
        self.body_attrs: dict[str, str | None] = {}
        self._event: str | None = None
        self._cell: str | None = None
        self._li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body_attrs = a
        elif tag == "img":
            self.img_tags += 1
        elif tag == "section" and "service" in classes:
            self.services.append(a.get("data-service") or "")
        elif tag == "article" and "event" in classes:
            self._event = a.get("data-event-type") or ""
            self.events[self._event] = {"publishers": [], "subscribers": [], "text": []}
        elif tag == "td" and ({"publishers", "subscribers"} & set(classes)):
            self._cell = "publishers" if "publishers" in classes else "subscribers"
        elif tag == "li":
            self._li = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "article":
            self._event = None
        elif tag == "td":
            self._cell = None
        elif tag == "li":
            self._li = False

    def handle_data(self, data: str) -> None:
        if self._event is None:
            return
        event = self.events[self._event]
        event["text"].append(data)
        if self._cell and self._li and data.strip():
            event[self._cell].append(data.strip())


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="the chromium binary is missing (Debian package `chromium`, installed by deploy/run.sh)",
)
async def test_docs_page_in_headless_chromium_shows_events_publishers_and_subscribers(
    server: Server, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        posted = await http.post("/api/registry/contracts", content=INVENTORY_YAML)
        assert posted.status_code in (200, 201), posted.text
    assert CHROMIUM is not None
    chromium = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"),
        *("--disable-background-networking", "--disable-component-update", "--disable-sync"),
        f"--user-data-dir={tmp_path}",
        "--dump-dom",
        f"{server.url}/docs/contracts",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        dom, _ = await asyncio.wait_for(chromium.communicate(), timeout=90)
    finally:
        if chromium.returncode is None:
            chromium.kill()
            await chromium.wait()
    page = _Events()
    page.feed(dom.decode())

    assert {"billing", "orders", "shipping", "inventory"} <= set(page.services)
    contracts = load_contracts(CONTRACTS)
    for contract in contracts:
        shown = page.events.get(contract.event_type)
        assert shown is not None, f"{contract.event_type} not on the page"
        assert shown["publishers"] == list(contract.publishers), contract.event_type
        assert shown["subscribers"] == list(contract.subscribers), contract.event_type
        text = "".join(shown["text"])
        assert contract.topic in text
        for field in contract.schema.get("properties", {}):
            assert f'"{field}"' in text, (contract.event_type, field)  # the payload schema
    assert page.events[RESERVED]["publishers"] == ["inventory"]
    assert page.events[RESERVED]["subscribers"] == ["orders"]

    # The hostile description is shown as text: no element was made of it, no script ran.
    assert page.img_tags == 0, "contract text became markup"
    assert "data-pwned" not in page.body_attrs
    text = dom.decode().replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert HOSTILE in text


async def test_serve_refuses_to_start_with_incompatible_contracts(
    services: Any, db_schema: str, tmp_path: Path
) -> None:
    registry = await Registry.connect(services.database_url, db_schema)
    try:
        await registry.register(load_contracts(CONTRACTS))
    finally:
        await registry.close()
    folder = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, folder)
    orders = folder / "orders.yaml"
    old = "required: [order_id, customer_id, total, currency]"
    orders.write_text(orders.read_text().replace(old, old.replace("]", ", items]")))
    process = await asyncio.create_subprocess_exec(
        str(BIZEVENTS),
        *("broker", "serve", "--port", str(free_port()), "--contracts", str(folder)),
        env={
            **os.environ,
            "BIZEVENTS_DATABASE_URL": services.database_url,
            "BIZEVENTS_REGISTRY_SCHEMA": db_schema,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert "com.acme.orders.OrderPlaced.v1 v1:/required: [required-added]" in err.decode()
    assert "Traceback" not in err.decode()


async def test_serve_waits_for_a_database_that_is_not_up_yet(
    services: Any, db_schema: str, tmp_path: Path
) -> None:
    host, port = host_port(services.database_url)
    proxy = await CuttableProxy(host, port).start()
    proxy.cut()  # PostgreSQL still starting, as far as the broker can tell
    url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "broker.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            str(BIZEVENTS),
            *("broker", "serve", "--port", url.rsplit(":", 1)[1]),
            env={
                **os.environ,
                "BIZEVENTS_DATABASE_URL": services.database_url.replace(
                    f":{port}/", f":{proxy.port}/"
                ),
                "BIZEVENTS_REGISTRY_SCHEMA": db_schema,
                "BIZEVENTS_GATEWAY_SCHEMA": f"{db_schema}_gw",
            },
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        async with asyncio.timeout(60):
            while "database unreachable at start" not in log.read_text():
                assert process.returncode is None, log.read_text()
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # several attempts meanwhile
        assert process.returncode is None
        proxy.restore()
        await wait_healthy(url, process, timeout=60)
    finally:
        await stop_process(process)
        await proxy.stop()
    text = log.read_text()
    assert text.count("database unreachable at start") == 1, text
    assert "Traceback" not in text


async def test_serve_gives_up_on_an_unreachable_database_with_one_clear_line(
    db_schema: str,
) -> None:
    process = await asyncio.create_subprocess_exec(
        str(BIZEVENTS),
        *("broker", "serve", "--port", str(free_port())),
        env={
            **os.environ,
            "BIZEVENTS_DATABASE_URL": f"postgresql://app:hunter2@127.0.0.1:{free_port()}/app",
            "BIZEVENTS_REGISTRY_SCHEMA": db_schema,
            "BIZEVENTS_START_TIMEOUT": "1",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    text = (out + err).decode()
    assert process.returncode == 1, text
    assert "error: cannot open the registry at postgresql://app:***@127.0.0.1" in text
    assert "did not answer within 1s of start" in text
    assert "hunter2" not in text
    assert "Traceback" not in text
