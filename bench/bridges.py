"""OData and SOAP bridge benchmark, each beside its baseline measured in the same run.

    .venv/bin/python bench/bridges.py [--rows 1000000] [--queries 200] [--batches 30]

Needs `bizevents dev up` (PostgreSQL and Kafka). Uses throw-away schemas, prints a table and
writes bench/results/bridges.json. The app runs in-process (httpx's ASGI transport: no sockets).

Figures:
  odata query    GET /odata/Events?$filter=Type eq '<one of 20 types>' and Time gt <t>
                 &$orderby=Time desc&$top=100 over a log of --rows events: p50 / p99 of the
                 whole request (auth, parsing, SQL, JSON)
  direct SQL     the very SQL and parameters the service ran, by asyncpg on one connection
  plan           EXPLAIN of that SQL: the index it uses
  soap batch     SOAP PublishEvents of 100 events (XML in, validated, outbox): events/s
  rest batch     POST /events with a CloudEvents batch of the same 100 events: events/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bizevents.contracts import load_contract_texts
from bizevents.contracts.registry import Registry
from bizevents.settings import ConnectionSettings
from bizevents_broker.app import create_app
from bizevents_broker.core import Gateway, Limits, RegistryContracts
from bizevents_broker.eventlog import migrate_event_log
from bizevents_broker.ingress.odata.model import EVENTS
from bizevents_broker.ingress.odata.query import parse_query, to_sql
from bizevents_broker.settings import BrokerSettings

ROOT = Path(__file__).resolve().parents[1]
TYPES = 20
CONTRACT = """\
asyncapi: 3.0.0
info: {{title: bench{n}, version: 1.0.0, x-bizevents-owner: bench, x-bizevents-source: /bench}}
channels:
  placed:
    address: {topic}
    x-bizevents-type: {topic}
    x-bizevents-key: order_id
    messages:
      Placed: {{$ref: '#/components/messages/Placed'}}
operations:
  sendPlaced: {{action: send, channel: {{$ref: '#/channels/placed'}}}}
components:
  messages:
    Placed:
      payload:
        type: object
        required: [order_id, amount]
        properties:
          order_id: {{type: string}}
          amount: {{type: integer}}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(conn: asyncpg.Connection, schema: str, rows: int) -> float:
    started = time.perf_counter()
    await conn.execute(
        f"""INSERT INTO {schema}.event_log (id, type, source, subject, time, partition_key,
            datacontenttype, data, topic, kafka_partition, kafka_offset)
            SELECT gen_random_uuid()::text, 'bench.Type' || (g % {TYPES}) || '.v1', '/bench',
                   'order/' || g, timestamptz '2026-01-01' + g * interval '1 second',
                   'o-' || (g % 5000), 'application/json',
                   jsonb_build_object('order_id', 'o-' || g, 'amount', g % 1000),
                   'bench', g % 3, g
            FROM generate_series(1, $1) g""",
        rows,
    )
    await conn.execute(f"ANALYZE {schema}.event_log")
    return time.perf_counter() - started


async def bench_odata(args: argparse.Namespace, http: httpx.AsyncClient, auth: dict[str, str],
                      conn: asyncpg.Connection, schema: str) -> dict[str, Any]:  # fmt: skip
    since = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=args.rows // 2)
    moment = since.isoformat().replace("+00:00", "Z")
    options = {
        "$filter": f"Type eq 'bench.Type7.v1' and Time gt {moment}",
        "$orderby": "Time desc",
        "$top": "100",
    }
    query = parse_query(EVENTS, options, max_top=10_000)
    sql, params = to_sql(EVENTS, f"{schema}.event_log", query, 101, 0)  # the service's page+1
    plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)
    nodes: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(
            f"{node['Node Type']}{' on ' + node['Index Name'] if 'Index Name' in node else ''}"
        )
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    for _ in range(10):  # warm both paths
        await conn.fetch(sql, *params)
        assert (await http.get("/odata/Events", params=options, headers=auth)).status_code == 200
    direct, served = [], []
    for _ in range(args.queries):
        t0 = time.perf_counter()
        rows = await conn.fetch(sql, *params)
        direct.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        response = await http.get("/odata/Events", params=options, headers=auth)
        served.append(time.perf_counter() - t0)
        assert response.status_code == 200 and len(response.json()["value"]) == 100
        assert len(rows) == 101
    return {
        "plan": nodes,
        "odata_p50_ms": statistics.median(served) * 1000,
        "odata_p99_ms": percentile(served, 0.99) * 1000,
        "direct_p50_ms": statistics.median(direct) * 1000,
        "direct_p99_ms": percentile(direct, 0.99) * 1000,
        # 101 quantiles (0, 1, ..., 100 %) of each, for the report's latency plot
        "odata_cdf_ms": [percentile(served, k / 100) * 1000 for k in range(101)],
        "direct_cdf_ms": [percentile(direct, k / 100) * 1000 for k in range(101)],
    }


async def bench_publish(args: argparse.Namespace, http: httpx.AsyncClient,
                        auth: dict[str, str], topic: str) -> dict[str, Any]:  # fmt: skip
    def soap_body(round_: int) -> str:
        events = "".join(
            f"<b:Event><b:Type>{topic}</b:Type><b:Payload>"
            f'{{"order_id": "s-{round_}-{i}", "amount": {i}}}</b:Payload></b:Event>'
            for i in range(100)
        )
        return (
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
            f' xmlns:b="urn:bizevents:soap:1"><s:Body><b:PublishEvents>{events}'
            "</b:PublishEvents></s:Body></s:Envelope>"
        )

    def rest_body(round_: int) -> str:
        return json.dumps([
            {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/bench", "type": topic,
             "data": {"order_id": f"r-{round_}-{i}", "amount": i}}
            for i in range(100)
        ])  # fmt: skip

    soap_headers = {**auth, "Content-Type": "text/xml; charset=utf-8"}
    rest_headers = {**auth, "Content-Type": "application/cloudevents-batch+json"}
    soap_s = rest_s = 0.0
    for r in range(args.batches):  # interleaved, so both see the same machine
        body = soap_body(r)
        t0 = time.perf_counter()
        response = await http.post("/soap", content=body, headers=soap_headers)
        soap_s += time.perf_counter() - t0
        assert response.status_code == 200, response.text[:300]
        body = rest_body(r)
        t0 = time.perf_counter()
        response = await http.post("/events", content=body, headers=rest_headers)
        rest_s += time.perf_counter() - t0
        assert response.status_code == 202, response.text[:300]
    events = args.batches * 100
    return {"soap_events_per_s": events / soap_s, "rest_events_per_s": events / rest_s}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    settings = ConnectionSettings()
    suffix = uuid.uuid4().hex[:8]
    registry_schema, schema = f"odatabench_reg_{suffix}", f"odatabench_gw_{suffix}"
    topic = f"bench.b{suffix}.OrderPlaced.v1"
    contracts = load_contract_texts({"b.yaml": CONTRACT.format(n=suffix, topic=topic)})
    registry = await Registry.connect(settings.database_url, registry_schema)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await registry.register(contracts)
        gateway = await Gateway.open(
            settings.database_url, schema, RegistryContracts(registry, ttl=60),
            limits=Limits(rate=0), admin_token="bench-admin-token",
        )  # fmt: skip
        try:
            await migrate_event_log(conn, schema)
            seeded = await seed(conn, schema, args.rows)
            app = create_app(
                BrokerSettings(gateway_schema=schema, registry_schema=registry_schema,
                               gateway_relay=False, odata_max_top=10_000),
                registry, gateway,
            )  # fmt: skip
            auth = {"Authorization": "Bearer bench-admin-token"}
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
                odata = await bench_odata(args, http, auth, conn, schema)
                publish = await bench_publish(args, http, auth, topic)
        finally:
            await gateway.close()
    finally:
        await registry.close()
        for s in (schema, registry_schema):
            await conn.execute(f"DROP SCHEMA IF EXISTS {s} CASCADE")
        await conn.close()
    return {"rows": args.rows, "seed_seconds": seeded, "queries": args.queries,
            "batches": args.batches, **odata, **publish}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(
        f"event log rows          {result['rows']:>12,}  (seeded in {result['seed_seconds']:.1f} s)"
    )
    print(f"plan                    {' > '.join(result['plan'])}")
    print(
        f"odata query   p50/p99   {result['odata_p50_ms']:8.2f} / {result['odata_p99_ms']:.2f} ms"
    )
    print(
        f"direct SQL    p50/p99   {result['direct_p50_ms']:8.2f} / {result['direct_p99_ms']:.2f} ms"
    )
    print(f"soap PublishEvents(100) {result['soap_events_per_s']:8.0f} events/s")
    print(f"rest batch (100)        {result['rest_events_per_s']:8.0f} events/s")
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or ROOT / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bridges.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
