"""Worker scaling: one pre-filled topic drained by `bizevents worker --processes N`, N = 1, 2, 4.

    .venv/bin/python bench/workers.py [--events 100000] [--partitions 8] [--processes 1,2,4]

Needs `bizevents dev up`. Prints a table and writes bench/results/workers.json.

Each run starts the real CLI (`bizevents worker workers_app:events --processes N`, a no-op
handler, or --handler-ms of sleep) on the same topic and consumer group, whose offsets are set back
to the start before each run. Progress is read from the group's committed offsets (Kafka's view,
not the worker's): "rate" is events per second from the first commit seen to the last; "total"
includes start-up (imports, group join). CPU is user + system time of the worker's process tree,
so events per CPU-second shows what one process costs whatever the machine's other load. The
baseline is the single process times N (perfect scaling); on a machine with C cores nothing
above C processes can add CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bizevents.settings import ConnectionSettings  # noqa: E402
from bizevents.topics import dead_letter_topic, replay_topic, retry_topic  # noqa: E402
from consume import cleanup, fill  # noqa: E402

BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_tree_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants, plus what its waited-for
    children used (a supervisor's children are counted either way)."""
    total, stack = 0.0, [pid]
    while stack:
        p = stack.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime are fields 14-17 (1-based); after ")" they start at 11
            total += sum(int(x) for x in fields[11:15]) / TICKS
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


async def committed(admin: AIOKafkaAdminClient, group: str) -> int:
    offsets = await admin.list_consumer_group_offsets(group)
    return sum(max(0, o.offset) for o in offsets.values())


async def rewind(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """Set the (empty) group's committed offsets back to 0 on every partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)  # fmt: skip
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(0, "") for tp in tps})
    finally:
        await consumer.stop()


async def run_one(args: argparse.Namespace, bootstrap: str, topic: str, group: str,
                  processes: int) -> dict[str, Any]:  # fmt: skip
    await rewind(bootstrap, group, topic, args.partitions)
    env = {
        **os.environ,
        "BENCH_TYPE": topic,
        "BENCH_GROUP": group,
        "WORK_MS": str(args.handler_ms),
        "BIZEVENTS_KAFKA_BOOTSTRAP": bootstrap,
        "BIZEVENTS_RETRY_DELAYS": "10",  # one retry topic: the dev stack slows with many topics
        "BIZEVENTS_COMMIT_INTERVAL": "0.5",
    }
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.Popen(
        [BIZEVENTS, "worker", "workers_app:events", "--processes", str(processes)],
        cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    first_t, first_n, done_t, cpu = 0.0, 0, 0.0, 0.0
    try:
        deadline = started + args.cap
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}")
            n = await committed(admin, group)
            now = time.monotonic()
            if n and not first_t:
                first_t, first_n = now, n
            cpu = cpu_tree_s(proc.pid)
            if n >= args.events:
                done_t = now
                break
            await asyncio.sleep(0.2)
        final = await committed(admin, group)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 60)
        await admin.close()
    end = done_t or time.monotonic()
    span = end - first_t if first_t else 0.0
    rate = (final - first_n) / span if span > 0 else 0.0
    return {
        "processes": processes,
        "events": final,
        "complete": final >= args.events,
        "first_commit_after_s": round(first_t - started, 2) if first_t else None,
        "total_s": round(end - started, 2),
        "rate": round(rate),
        "cpu_s": round(cpu, 2),
        "events_per_cpu_s": round(final / cpu) if cpu else None,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    bootstrap = ConnectionSettings().kafka_bootstrap
    run = uuid.uuid4().hex[:8]
    topic = f"com.acme.bench{run}.Scale.v1"
    group = f"bench-scale-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, args.partitions, 1)])
    await admin.close()
    runs = []
    try:
        print(f"filling {topic} with {args.events} events ...", flush=True)
        await fill(bootstrap, topic, args.events, topic)
        for n in args.processes:
            r = await run_one(args, bootstrap, topic, group, n)
            runs.append(r)
            print(f"  {n} process(es): {r['rate']:>8,} events/s after the first commit "
                  f"({r['first_commit_after_s']} s), {r['total_s']} s in all, "
                  f"{r['events_per_cpu_s']} events/CPU-s, load {r['load_before']}",
                  flush=True)  # fmt: skip
    finally:
        await cleanup(bootstrap, [topic, dead_letter_topic(group), replay_topic(group),
                                  retry_topic(group, "10s")])  # fmt: skip
    base = runs[0]["rate"] / runs[0]["processes"] if runs and runs[0]["rate"] else 0
    for r in runs:
        r["linear"] = round(base * r["processes"])
        r["x_linear"] = round(r["rate"] / r["linear"], 3) if r["linear"] else None
    return {
        "benchmark": "workers",
        "events": args.events,
        "partitions": args.partitions,
        "handler_ms": args.handler_ms,
        "cpus": os.cpu_count(),
        "runs": runs,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--processes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 2, 4])  # fmt: skip
    parser.add_argument("--handler-ms", type=float, default=0.0)
    parser.add_argument("--cap", type=float, default=180.0, help="seconds per run at most")
    result = asyncio.run(main(parser.parse_args()))
    print(f"\n{'processes':>9} {'events/s':>9} {'linear':>9} {'x linear':>9} {'ev/CPU-s':>9}")
    for r in result["runs"]:
        print(f"{r['processes']:>9} {r['rate']:>9,} {r['linear']:>9,} {r['x_linear'] or 0:>9.2f} "
              f"{r['events_per_cpu_s'] or 0:>9,}")  # fmt: skip
    out = Path(os.environ.get("BENCH_RESULTS_DIR") or HERE / "results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.json").write_text(json.dumps(result, indent=2))
    print(f"\nwritten to {out / 'workers.json'}")
