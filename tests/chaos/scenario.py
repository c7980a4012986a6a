"""The chaos scenario: a private Kafka and PostgreSQL, writers publishing keyed events through the
SDK's outbox (batches, late commits, rollbacks) and through the broker's HTTP gateway, two relays
(and the broker's own relay for the gateway's outbox), one worker process per group (with the
inbox and without), and a random fault schedule: kill -9 and restart of relays, workers, the
broker and Kafka, crash-stop of PostgreSQL (`pg_ctl stop -m immediate`, no shutdown checkpoint),
SIGTERM of workers. Afterwards `checker.check` reads everything back on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bizevents.app import Event, Events
from bizevents.devservices import KafkaServer, PostgresServer
from bizevents.devservices import process as proc_util
from bizevents.kafka import ensure_topics
from bizevents.settings import DevSettings

from .checker import Report, check

HERE = Path(__file__).resolve().parent
BIZEVENTS = str(Path(sys.executable).parent / "bizevents")
TYPE = "com.acme.chaos.Tick.v1"
CONTRACTS = HERE / "contracts"
GATEWAY_APP = "chaos-gateway"
KEYS_PER_WRITER = 8
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Options:
    events: int = 10_000
    faults: int = 20
    seed: int = 1
    writers: int = 6
    fault_every: float = 3.0
    gateway_share: float = 0.2  # of the events, published over HTTP through the broker
    kinds: tuple[str, ...] = ("relay", "worker", "worker_term", "broker", "kafka", "postgres")
    first: tuple[str, ...] = ()  # faults that come first, in this order; then random from kinds
    drain_stall: float = 180.0  # afterwards, give up waiting after this long without progress


@dataclass
class Outcome:
    report: Report
    faults: dict[str, int] = field(default_factory=dict)
    # Processes that exited by themselves (not killed by the schedule) and were restarted.
    crashed: list[str] = field(default_factory=list)
    graceful_redeliveries: list[int] = field(default_factory=list)
    seconds: float = 0.0
    writer_errors: int = 0
    gateway_retries: int = 0  # requests sent again (same Idempotency-Key) after no answer or 5xx
    gateway_refused: list[str] = field(default_factory=list)  # 4xx answers: none expected
    # Seconds each SIGTERM'd worker took to exit (the shutdown timeout is 10 s); None: killed
    # after 60 s.
    term_exits: list[float | None] = field(default_factory=list)


class Stack:
    """Private Kafka and PostgreSQL that the run may kill (never the shared dev stack)."""

    def __init__(self, root: Path) -> None:
        self.settings = DevSettings(
            state_dir=root / "state",
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            pg_port=free_port(),
        )
        self.kafka, self.pg = KafkaServer(self.settings), PostgresServer(self.settings)
        # Reuse the jars `bizevents dev up` fetched instead of copying them again.
        shared_libs = DevSettings().state / "kafka" / "libs"
        if shared_libs.is_dir():
            self.kafka.home.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                (self.kafka.home / "libs").symlink_to(shared_libs)

    def _dev(self, *args: str) -> None:
        """`bizevents dev ...` in a child process: starting servers from this process's threads
        is not safe (Kafka is spawned with a preexec_fn, which can deadlock a threaded parent)."""
        s = self.settings
        env = {
            **os.environ,
            "BIZEVENTS_STATE_DIR": str(s.state),
            "BIZEVENTS_KAFKA_PORT": str(s.kafka_port),
            "BIZEVENTS_KAFKA_CONTROLLER_PORT": str(s.kafka_controller_port),
            "BIZEVENTS_PG_PORT": str(s.pg_port),
            "BIZEVENTS_KAFKA_START_TIMEOUT": "300",  # a restart after kill -9 recovers its logs
        }
        result = subprocess.run([BIZEVENTS, "dev", *args], env=env, capture_output=True,
                                text=True, timeout=300, check=False)  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"bizevents dev {' '.join(args)}: {result.stderr[-2000:]}")

    async def start(self) -> None:
        await asyncio.to_thread(self._dev, "up")

    async def kill_kafka(self) -> None:
        pid = self.kafka.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while proc_util.alive(pid):
                await asyncio.sleep(0.05)
        await asyncio.to_thread(self._dev, "up")

    async def crash_postgres(self) -> None:
        pg_ctl = str(self.pg.bin_dir / "pg_ctl")
        await asyncio.to_thread(self.pg._run, pg_ctl, "-D", str(self.pg.data), "-m", "immediate",
                                "-w", "stop")  # fmt: skip
        await asyncio.to_thread(self._dev, "up")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._dev("down")


class Processes:
    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.relays: list[subprocess.Popen[bytes]] = []
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.broker: subprocess.Popen[bytes] | None = None
        self.stopping: set[str] = set()  # stopped on purpose right now: not for revive()
        self.broker_port = free_port()
        self.broker_env = {
            "BIZEVENTS_CONTRACTS_PATH": str(CONTRACTS),
            "BIZEVENTS_GATEWAY_SCHEMA": "chaos_gw",
            "BIZEVENTS_REGISTRY_SCHEMA": "chaos_registry",
            "BIZEVENTS_ADMIN_TOKEN": f"chaos-admin-{random.getrandbits(64):x}",
        }

    def _spawn(self, args: list[str], name: str, extra: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen(
                [BIZEVENTS, *args], env={**self.env, **extra}, stdout=out,
                stderr=subprocess.STDOUT, cwd=HERE,
            )  # fmt: skip

    def start_relay(self, i: int) -> None:
        relay = self._spawn(["relay"], f"relay{i}", {})
        if i < len(self.relays):
            self.relays[i] = relay
        else:
            self.relays.append(relay)

    def start_worker(self, group: str) -> None:
        self.workers[group] = self._spawn(
            ["worker", "chaos_app:events"], group, {"BIZEVENTS_GROUPS": f'["{group}"]'}
        )

    def start_broker(self) -> None:
        args = ["broker", "serve", "--port", str(self.broker_port)]
        self.broker = self._spawn(args, "broker", self.broker_env)

    def revive(self) -> list[str]:
        """Restart whatever exited on its own, as a supervisor (systemd, Kubernetes) would."""
        revived = []
        for i, relay in enumerate(self.relays):
            if relay.poll() is not None:
                revived.append(f"relay{i} (exit {relay.returncode})")
                self.start_relay(i)
        for group, worker in list(self.workers.items()):
            if worker.poll() is not None and group not in self.stopping:
                revived.append(f"{group} (exit {worker.returncode})")
                self.start_worker(group)
        if self.broker is not None and self.broker.poll() is not None:
            revived.append(f"broker (exit {self.broker.returncode})")
            self.start_broker()
        return revived

    def stop_all(self) -> None:
        every = [*self.relays, *self.workers.values(), *([self.broker] if self.broker else [])]
        for p in every:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in every:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()


class Writers:
    """Keyed writers: per key, seq n is written only after seq n-1 is known committed or not."""

    def __init__(self, url: str, total: int, count: int, rng: random.Random, rate: float) -> None:
        self.url, self.total, self.count, self.rng = url, total, count, rng
        self.per_writer_rate = rate / count  # events/s: spread the writes over the fault schedule
        self.events = Events(app="chaos", outbox_schema="chaos")
        self.committed = 0
        self.errors = 0

    async def run(self) -> None:
        await asyncio.gather(*(self._writer(w, random.Random(self.rng.random()))
                               for w in range(self.count)))  # fmt: skip

    async def _writer(self, w: int, rng: random.Random) -> None:
        conn: asyncpg.Connection | None = None
        next_seq: dict[str, int] = {}
        in_doubt: set[str] = set()
        key = f"w{w}-k0"
        started, mine = time.monotonic(), 0
        while self.committed < self.total:
            ahead = mine / self.per_writer_rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(self.url, timeout=5)
                if rng.random() > 0.7:
                    key = f"w{w}-k{rng.randrange(KEYS_PER_WRITER)}"
                if key in in_doubt or key not in next_seq:
                    # The ledger says whether a commit cut off by a crash went through.
                    done = await conn.fetchval(
                        "SELECT coalesce(max(seq), 0) FROM chaos.ledger WHERE key = $1", key
                    )
                    next_seq[key] = int(done) + 1
                    in_doubt.discard(key)
                seq = next_seq[key]
                size = rng.choice((1, 1, 1, 3))
                rollback = rng.random() < 0.05
                ids: list[str] = []
                with contextlib.suppress(_RolledBack):
                    async with conn.transaction():
                        ids = await self.events.publish_many(conn, [
                            Event(TYPE, {"key": key, "seq": seq + i}, key=key)
                            for i in range(size)
                        ])  # fmt: skip
                        await conn.executemany(
                            "INSERT INTO chaos.ledger (event_id, key, seq) VALUES ($1, $2, $3)",
                            [(i, key, seq + n) for n, i in enumerate(ids)],
                        )
                        if rng.random() < 0.2:  # a late commit: the ids were taken early
                            await asyncio.sleep(rng.uniform(0, 0.2))
                        if rollback:
                            raise _RolledBack
                    next_seq[key] = seq + size
                    self.committed += size
                    mine += size
                    continue
                in_doubt.add(key)  # no seq advance; record the rolled-back ids
                await conn.executemany(
                    "INSERT INTO chaos.rolled_back (event_id) VALUES ($1)", [(i,) for i in ids]
                )
            except DB_ERRORS:
                self.errors += 1
                in_doubt.add(key)
                if conn is not None:
                    conn.terminate()
                conn = None
                await asyncio.sleep(0.3)
        if conn is not None:
            await conn.close()


class _RolledBack(Exception):
    pass


class GatewayWriters:
    """Keyed writers over HTTP (structured CloudEvents): per key, seq n is sent only after n-1 was
    accepted. A request without an answer (broker killed, database down: no response, or a 5xx)
    is sent again with the same Idempotency-Key until the gateway answers, so each event is
    written once; the ledger row follows the 202 (it is what the gateway promised to deliver)."""

    def __init__(
        self, base: str, api_key: str, url: str, total: int, count: int, rng: random.Random,
        rate: float, outcome: Outcome,
    ) -> None:  # fmt: skip
        self.base, self.api_key, self.url, self.total = base, api_key, url, total
        self.count, self.rng, self.outcome = count, rng, outcome
        self.per_writer_rate = rate / count
        self.committed = 0

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=10) as client:
            await asyncio.gather(*(self._writer(client, w, random.Random(self.rng.random()))
                                   for w in range(self.count)))  # fmt: skip

    async def _writer(self, client: httpx.AsyncClient, w: int, rng: random.Random) -> None:
        next_seq: dict[str, int] = {}
        key = f"g{w}-k0"
        started, mine = time.monotonic(), 0
        while self.committed < self.total:
            ahead = mine / self.per_writer_rate - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
            if rng.random() > 0.7:
                key = f"g{w}-k{rng.randrange(KEYS_PER_WRITER)}"
            seq = next_seq.get(key, 1)
            event_id = str(uuid.uuid4())
            body = {"specversion": "1.0", "id": event_id, "source": "/acme/chaos", "type": TYPE,
                    "data": {"key": key, "seq": seq}}  # fmt: skip
            if not await self._send(client, body, event_id):
                continue
            await self._record(event_id, key, seq)
            next_seq[key] = seq + 1
            self.committed += 1
            mine += 1

    async def _send(self, client: httpx.AsyncClient, body: dict[str, Any], event_id: str) -> bool:
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": event_id,
                   "Content-Type": "application/cloudevents+json"}  # fmt: skip
        while True:
            try:
                response = await client.post("/events", json=body, headers=headers)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code < 300:
                return True
            if response is not None and response.status_code < 500 and response.status_code != 429:
                self.outcome.gateway_refused.append(f"{response.status_code} {response.text[:200]}")
                return False
            self.outcome.gateway_retries += 1
            await asyncio.sleep(0.3)

    async def _record(self, event_id: str, key: str, seq: int) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self.url, timeout=5)
                try:
                    await conn.execute(
                        "INSERT INTO chaos.ledger (event_id, key, seq) VALUES ($1, $2, $3) "
                        "ON CONFLICT DO NOTHING", event_id, key, seq,
                    )  # fmt: skip
                finally:
                    await conn.close()
                return
            except DB_ERRORS:
                await asyncio.sleep(0.3)


async def _broker_ready(base: str, admin_token: str, timeout: float = 90) -> str:
    """Wait for the broker to answer, then create the gateway app; its API key."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/healthz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not answer at {base} within {timeout}s")
            await asyncio.sleep(0.3)
        response = await client.post(
            "/api/apps", json={"name": GATEWAY_APP},
            headers={"Authorization": f"Bearer {admin_token}"},
        )  # fmt: skip
        response.raise_for_status()
        return str(response.json()["key"])


SCHEMA = """
CREATE SCHEMA IF NOT EXISTS chaos;
CREATE TABLE IF NOT EXISTS chaos.ledger (event_id uuid PRIMARY KEY, key text, seq int);
CREATE TABLE IF NOT EXISTS chaos.rolled_back (event_id uuid PRIMARY KEY);
CREATE TABLE IF NOT EXISTS chaos.effects (id bigserial PRIMARY KEY, grp text, event_id text,
                                          key text, seq int);
"""


PLAIN_DUPLICATES = (
    "SELECT count(*) - count(DISTINCT event_id) FROM chaos.effects WHERE grp = 'plain'"
)


async def _plain_duplicates(url: str) -> int:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return int(await conn.fetchval(PLAIN_DUPLICATES))
    finally:
        await conn.close()


async def _terminate(process: subprocess.Popen[bytes], patience: float = 60) -> float | None:
    """SIGTERM, then wait: the seconds it took to exit, or None if it had to be killed."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    while process.poll() is None:
        if time.monotonic() - started > patience:
            process.kill()
            process.wait()
            return None
        await asyncio.sleep(0.1)
    return round(time.monotonic() - started, 1)


async def _drain(outstanding: Any, stall: float, report_every: float = 30.0) -> bool:
    """Wait until `outstanding()` (events not yet relayed or handled) is 0. The wait scales with
    the backlog: it goes on as long as the backlog shrinks, and gives up only after `stall`
    seconds without progress (a 100k run's workers need far longer than a 10k run's)."""
    best: int | None = None
    last_progress = last_report = time.monotonic()
    while True:
        left: int | None = None
        with contextlib.suppress(*DB_ERRORS):
            left = await outstanding()
        now = time.monotonic()
        if left is not None:
            if left == 0:
                return True
            if best is None or left < best:
                best, last_progress = left, now
            if now - last_report > report_every:
                say(f"draining: {left:,} events not yet relayed or handled")
                last_report = now
        if now - last_progress > stall:
            say(f"no progress for {stall:.0f} s with {best:,} events left: checking anyway")
            return False
        await asyncio.sleep(0.5)


def _prepare(root: Path, logs: Path) -> None:
    root.chmod(0o755)  # the PostgreSQL OS user must reach its data folder
    logs.mkdir(parents=True, exist_ok=True)


async def run(opts: Options, workdir: Path | None = None) -> Outcome:
    rng = random.Random(opts.seed)
    # Under the state folder, not /tmp: nothing else tidies it away during a run.
    state = DevSettings().state / "chaos"
    state.mkdir(parents=True, exist_ok=True)
    root = Path(workdir or tempfile.mkdtemp(prefix="run-", dir=state))
    logs = root / "logs"
    _prepare(root, logs)
    stack = Stack(root)
    started = time.monotonic()
    say(f"starting a private Kafka and PostgreSQL in {root}")
    await stack.start()
    say("stack up")
    url, bootstrap = stack.pg.url, stack.kafka.bootstrap
    conn = await asyncpg.connect(url)
    await conn.execute(SCHEMA)
    await Events(app="chaos", outbox_schema="chaos").migrate(conn)
    await conn.close()
    await ensure_topics(bootstrap, [TYPE], partitions=3)
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "CHAOS_TYPE": TYPE,
        "BIZEVENTS_DATABASE_URL": url,
        "BIZEVENTS_KAFKA_BOOTSTRAP": bootstrap,
        "BIZEVENTS_OUTBOX_SCHEMA": "chaos",
        "BIZEVENTS_INBOX_SCHEMA": "chaos",
        "BIZEVENTS_RETRY_DELAYS": "[1, 5, 30]",
        "BIZEVENTS_COMMIT_INTERVAL": "0.2",
        "BIZEVENTS_SESSION_TIMEOUT_MS": "6000",
        "BIZEVENTS_SHUTDOWN_TIMEOUT": "10",
        "BIZEVENTS_LOG_JSON": "1",
    }
    procs = Processes(env, logs)
    outcome = Outcome(report=Report())
    checked = False
    background: list[asyncio.Future[Any]] = []
    try:
        procs.start_relay(0)
        procs.start_relay(1)
        for group in ("chaos-inbox", "chaos-plain"):
            procs.start_worker(group)
        procs.start_broker()
        base = f"http://127.0.0.1:{procs.broker_port}"
        api_key = await _broker_ready(base, procs.broker_env["BIZEVENTS_ADMIN_TOKEN"])
        say("broker up")
        over_http = int(opts.events * opts.gateway_share)
        rate = opts.events / (opts.faults * opts.fault_every)
        writers = Writers(url, opts.events - over_http, opts.writers, rng, rate=rate)
        gateway = GatewayWriters(base, api_key, url, over_http, max(1, opts.writers // 3), rng,
                                 rate=rate * opts.gateway_share, outcome=outcome)  # fmt: skip
        writing = asyncio.gather(writers.run(), gateway.run())
        background.append(writing)

        async def supervise() -> None:
            while True:
                await asyncio.sleep(1)
                for name in procs.revive():
                    say(f"restarted {name}: it exited by itself")
                    outcome.crashed.append(name)

        supervisor = asyncio.create_task(supervise())
        background.append(supervisor)
        term_dupes: int | None = None
        for n in range(opts.faults):
            await asyncio.sleep(rng.uniform(0.5, 1.5) * opts.fault_every)
            if term_dupes is not None:  # redeliveries since the last graceful stop
                with contextlib.suppress(*DB_ERRORS):
                    outcome.graceful_redeliveries.append(await _plain_duplicates(url) - term_dupes)
                term_dupes = None
            kind = opts.first[n] if n < len(opts.first) else rng.choice(opts.kinds)
            say(f"fault: {kind} (committed so far {writers.committed:,})")
            outcome.faults[kind] = outcome.faults.get(kind, 0) + 1
            if kind == "relay":
                i = rng.randrange(2)
                procs.relays[i].kill()
                procs.relays[i].wait()
                procs.start_relay(i)
            elif kind in ("worker", "worker_term"):
                group = "chaos-plain" if kind == "worker_term" else rng.choice(list(procs.workers))
                if kind == "worker_term":
                    with contextlib.suppress(*DB_ERRORS):
                        term_dupes = await _plain_duplicates(url)
                    procs.stopping.add(group)
                    outcome.term_exits.append(await _terminate(procs.workers[group]))
                    procs.stopping.discard(group)
                else:
                    procs.workers[group].kill()
                    procs.workers[group].wait()
                procs.start_worker(group)
            elif kind == "broker":
                assert procs.broker is not None
                procs.broker.kill()
                procs.broker.wait()
                procs.start_broker()
            elif kind == "kafka":
                await stack.kill_kafka()
            elif kind == "postgres":
                await stack.crash_postgres()
        await writing
        outcome.writer_errors = writers.errors
        say(
            f"writers done: {writers.committed:,} committed through the SDK, "
            f"{gateway.committed:,} accepted by the gateway; waiting for relays and workers"
        )

        async def outstanding() -> int:
            c = await asyncpg.connect(url, timeout=5)
            try:
                pending = await c.fetchval("SELECT count(*) FROM chaos.outbox")
                pending += await c.fetchval("SELECT count(*) FROM chaos_gw.outbox")
                handled = dict(await c.fetch(
                    "SELECT grp, count(DISTINCT event_id) FROM chaos.effects GROUP BY grp"
                ))  # fmt: skip
                committed = await c.fetchval("SELECT count(*) FROM chaos.ledger")
            finally:
                await c.close()
            behind = sum(max(0, committed - handled.get(g, 0)) for g in ("inbox", "plain"))
            return int(pending + behind)

        await _drain(outstanding, opts.drain_stall)
        supervisor.cancel()
        say("checking")
        check_conn = await asyncpg.connect(url)
        try:
            outcome.report = await check(check_conn, bootstrap, TYPE)
            checked = True
        finally:
            await check_conn.close()
    finally:
        # On the way out after an error, writers may still be running: stop them first.
        for task in background:
            task.cancel()
        if background:
            _, stuck = await asyncio.wait(background, timeout=10)
            for task in stuck:
                say(f"still running after cancel: {task!r}")
        procs.stop_all()
        stack.stop()
        outcome.seconds = time.monotonic() - started
        if workdir is None and checked and not outcome.report.failed:
            shutil.rmtree(root, ignore_errors=True)
    return outcome
