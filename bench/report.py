"""One benchmark report: every benchmark with its same-run baselines, the machine, tables and plots.

    .venv/bin/python bench/report.py            # full report (about 15 min quiet, 23 at most)
    .venv/bin/python bench/report.py --quick    # smoke run with small sizes (a few minutes)
    .venv/bin/python bench/report.py --render   # re-render REPORT.md from the JSON already there

Needs `bizevents dev up`. Runs each benchmark as a subprocess with bounded sizes and a time limit
(bench/publish.py, backlog.py and its relay batch-size sweep, consume.py, batch.py, workers.py
with 1, 2 and 4 processes, ingest.py, bridges.py, compat_gate.py), recording the 1/5/15-minute
load average before and after each, then writes bench/results/REPORT.md with PNG plots beside
it. Each figure is printed with the load of the run it comes from. The soak (bench/soak.py, 30
min) is a separate command; its latest bench/results/soak.json is included with its own date and
load, or run here with --soak-minutes N. A full run also writes the summary table into the README.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"
README_START = "<!-- bench/report.py: summary start -->"
README_END = "<!-- bench/report.py: summary end -->"
PROFILES = ("tiny", "quick", "full")
BUDGET_MIN = {"tiny": 3.0, "quick": 12.0, "full": 23.0}  # the whole run stops starting steps here


@dataclass(frozen=True)
class Step:
    """One benchmark run: its script, arguments per profile (None: not in that profile), the
    JSON it writes, and its time limit per profile in seconds."""

    name: str
    script: str
    args: dict[str, list[str] | None]
    output: str
    limit: dict[str, float] = field(default_factory=lambda: {"tiny": 90, "quick": 240, "full": 420})


BATCH_SIZES = {"tiny": [100], "quick": [10, 100, 1000, 5000], "full": [10, 100, 1000, 5000]}
SWEEP_ROWS = {"tiny": "1000", "quick": "20000", "full": "200000"}


def steps(profile: str) -> list[Step]:
    out = [
        Step("publish", "publish.py", {
            "tiny": None,
            "quick": ["--events", "10000", "--seconds", "2", "--latency-seconds", "4"],
            "full": ["--events", "100000", "--seconds", "5", "--latency-seconds", "10"]},
            "publish.json"),
        Step("backlog", "backlog.py", {
            "tiny": None,
            "quick": ["--rows", "50000", "--every", "0.5"],
            "full": ["--rows", "1000000", "--every", "2"]}, "backlog.json"),
    ]  # fmt: skip
    for size in BATCH_SIZES[profile]:
        # Small batches are slow by design: fewer rows keep each run within its time limit.
        rows = str(min(int(SWEEP_ROWS[profile]), size * 2000))
        args = ["--rows", rows, "--batch-size", str(size),
                "--out", f"backlog_batch_{size}.json", "--every", "0.5"]  # fmt: skip
        out.append(Step(f"relay batch {size}", "backlog.py", {profile: args},
                        f"backlog_batch_{size}.json",
                        {"tiny": 60, "quick": 120, "full": 240}))  # fmt: skip
    out += [
        Step("consume", "consume.py", {
            "tiny": None,
            "quick": ["--events", "10000", "--cap", "15"],
            "full": ["--events", "200000", "--cap", "40"]}, "consume.json",
            {"quick": 240, "full": 420}),
        Step("batch", "batch.py", {
            "tiny": None,
            "quick": ["--events", "3000", "--cap", "40"],
            "full": ["--events", "20000", "--cap", "90"]}, "batch.json",
            {"quick": 240, "full": 540}),
        Step("workers", "workers.py", {
            "tiny": None,
            "quick": ["--events", "10000", "--processes", "1,2", "--cap", "120"],
            "full": ["--events", "100000", "--processes", "1,2,4", "--cap", "150"]},
            "workers.json", {"quick": 300, "full": 540}),
        Step("ingest", "ingest.py", {
            "tiny": None,
            "quick": ["--seconds", "3", "--connections", "16", "--batches", "50",
                      "--webhook-rate", "100"],
            "full": ["--seconds", "10", "--connections", "32", "--batches", "600",
                     "--webhook-rate", "1000"]}, "ingest.json", {"quick": 300, "full": 420}),
        Step("bridges", "bridges.py", {
            "tiny": ["--rows", "5000", "--queries", "20", "--batches", "2"],
            "quick": ["--rows", "50000", "--queries", "50", "--batches", "5"],
            "full": ["--rows", "1000000", "--queries", "200", "--batches", "30"]},
            "bridges.json"),
        Step("compat_gate", "compat_gate.py", {
            "tiny": None, "quick": [], "full": []}, "compat_gate.json"),
    ]  # fmt: skip
    return [s for s in out if s.args.get(profile) is not None]


# -- the machine ----------------------------------------------------------------------------------
def _first(path: str, prefix: str) -> str | None:
    with contextlib.suppress(OSError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    return None


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


async def _postgres_version() -> str:
    import asyncpg

    from bizevents.settings import ConnectionSettings

    conn = await asyncpg.connect(ConnectionSettings().database_url)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def machine() -> dict[str, Any]:
    mem = _first("/proc/meminfo", "MemTotal")
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    kafka = re.search(r"<kafka\.version>([^<]+)<", pom)
    try:
        postgres = asyncio.run(_postgres_version())
    except Exception as exc:  # the report still says what it could not learn
        postgres = f"unknown ({type(exc).__name__})"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                            capture_output=True, check=False).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           text=True, capture_output=True, check=False).stdout.strip()  # fmt: skip
    return {
        "cores": os.cpu_count(),
        "cpu_model": _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "memory_gb": round(int(mem.split()[0]) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "kafka": f"{kafka.group(1)} (KRaft, single node, as `bizevents dev up` runs it)"
        if kafka
        else "unknown",
        "postgresql": postgres,
        "aiokafka": _version("aiokafka"),
        "asyncpg": _version("asyncpg"),
        "bizevents": _version("bizevents"),
        "commit": commit + (" (with local changes)" if dirty else ""),
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- running ----------------------------------------------------------------------------------
def run_step(step: Step, profile: str, results: Path, limit: float) -> dict[str, Any]:
    """Run one benchmark as a subprocess (its own session, so a time-out stops all of it)."""
    (results / step.output).unlink(missing_ok=True)  # only this run's figures are reported
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(HERE / step.script), *(step.args[profile] or [])]
    meta: dict[str, Any] = {"name": step.name, "command": _command(step, profile),
                            "output": step.output, "load_before": load(),
                            "started_at": datetime.now(UTC).isoformat()}  # fmt: skip
    started = time.monotonic()
    log = logs / f"{step.name.replace(' ', '_')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "BENCH_RESULTS_DIR": str(results)},
                                start_new_session=True)  # fmt: skip
        try:
            rc = proc.wait(limit)
            meta["status"] = "ok" if rc == 0 and (results / step.output).exists() else f"exit {rc}"
        except subprocess.TimeoutExpired:
            # SIGINT first: the benchmark's finally blocks drop its schemas and topics.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            meta["status"] = f"stopped at its {limit:.0f} s limit"
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["load_after"] = load()
    if meta["status"] != "ok":
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        meta["log_tail"] = tail
    return meta


def _command(step: Step, profile: str) -> str:
    return " ".join([".venv/bin/python", f"bench/{step.script}", *(step.args[profile] or [])])


def run_all(profile: str, results: Path, only: set[str] | None, soak_minutes: float,
            keep: bool = False) -> None:  # fmt: skip
    """Run the profile's steps (or `only` these); with `keep`, the steps of the last run that
    are not run again stay in the report, each with its own time and load."""
    results.mkdir(parents=True, exist_ok=True)
    print("machine ...", flush=True)
    doc: dict[str, Any] = {"profile": profile, "started_at": datetime.now(UTC).isoformat(),
                           "machine": machine(), "steps": []}  # fmt: skip
    previous = results / "report.json"
    if keep and previous.exists():
        fresh = doc["machine"]
        doc = json.loads(previous.read_text())
        doc["amended_at"] = datetime.now(UTC).isoformat()
        doc["amended_commit"] = fresh["commit"]
    deadline = time.monotonic() + BUDGET_MIN[profile] * 60
    todo = [s for s in steps(profile) if not only or {s.name, s.name.split()[0]} & only]
    if soak_minutes:
        args = ["--minutes", str(soak_minutes), "--probe-seconds", "30"]
        limit = soak_minutes * 60 + 600
        todo.append(Step("soak", "soak.py", {profile: args}, "soak.json", {profile: limit}))
        deadline += limit
    for step in todo:
        left = deadline - time.monotonic()
        if left < 90:  # too little time for any benchmark to finish
            if keep and any(s["name"] == step.name for s in doc["steps"]):
                continue
            doc["steps"].append({"name": step.name, "command": _command(step, profile),
                                 "output": step.output,
                                 "status": "not started: time budget"})  # fmt: skip
            continue
        print(f"{step.name} ... ", end="", flush=True)
        doc["steps"] = [s for s in doc["steps"] if s["name"] != step.name]
        meta = run_step(step, profile, results, min(step.limit.get(profile, 420), left))
        print(f"{meta['status']} in {meta['seconds']} s, load {meta['load_before'][0]} -> "
              f"{meta['load_after'][0]}", flush=True)  # fmt: skip
        doc["steps"].append(meta)
        (results / "report.json").write_text(json.dumps(doc, indent=2))
    doc["finished_at"] = datetime.now(UTC).isoformat()
    (results / "report.json").write_text(json.dumps(doc, indent=2))


# -- reading the results -------------------------------------------------------------------------
class Results:
    """The JSON documents of one run, and each step's metadata (load, status)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        meta_file = directory / "report.json"
        self.meta: dict[str, Any] = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        self.steps = {s["output"]: s for s in self.meta.get("steps", [])}

    def get(self, output: str) -> Any:
        """A benchmark's document, only if this run produced it (or, for the soak, any run)."""
        path = self.dir / output
        step = self.steps.get(output)
        if not path.exists() or (step is None and output != "soak.json"):
            return None
        if step is not None and step.get("status") != "ok":
            return None
        return json.loads(path.read_text())

    def load_of(self, output: str) -> str:
        step = self.steps.get(output)
        if step and "load_before" in step:
            return f"{step['load_before'][0]:g} → {step['load_after'][0]:g}"
        doc = self.get(output)
        if doc and "load_before" in doc:
            return f"{doc['load_before'][0]:g} → {doc['load_after'][0]:g}"
        return "?"

    def sweep(self) -> list[dict[str, Any]]:
        runs = []
        for path in sorted(self.dir.glob("backlog_batch_*.json")):
            doc = self.get(path.name)
            if doc:
                runs.append(doc)
        return sorted(runs, key=lambda d: d["batch_size"])


def n(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def nm(value: float | None) -> str:
    """A figure in prose: the number, or that this run did not measure it."""
    return "(not measured in this run)" if value is None else f"{value:,.0f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


# -- the summary table --------------------------------------------------------------------------
Row = tuple[str, str, str, str]  # measure, ours, baseline, load


def summary_rows(r: Results) -> list[Row]:
    rows: list[Row] = []
    pub = r.get("publish.json")
    if pub:
        ld = r.load_of("publish.json")
        lat = pub["latency"]
        rows += [
            ("publish, 100 events/tx from 2 app processes, end to end to Kafka ack",
             n(pub["ours_batched"], "events/s"),
             f"floor 1/(1/I+1/R+1/P) {n(pub['floor'])}/s: "
             f"{ratio(pub['ours_batched'], pub['floor'])}", ld),
            ("publish, 1 event/tx, 32 writers", n(pub["ours_single"], "events/s"),
             f"raw one-row INSERT commit {n(pub['raw_single_insert'])} tx/s: "
             f"{ratio(pub['ours_single'], pub['raw_single_insert'])}", ld),
            (f"commit → Kafka ack at {n(lat['rate'])} events/s",
             f"p50 {n(lat['p50_ms'], 'ms', 1)}, p99 {n(lat['p99_ms'], 'ms', 1)}", "", ld),
        ]  # fmt: skip
    back = r.get("backlog.json")
    if back:
        base = ""
        if pub:
            base = (f"raw claim+DELETE {n(pub['R_claim_delete'])} rows/s, raw send_batch "
                    f"{n(pub['P_send_batch'])} msgs/s (publish run)")  # fmt: skip
        rows.append((f"relay draining a {n(back['rows'])}-row backlog",
                     f"{n(back['mean_rate'], 'rows/s')} (windows {n(back['window_rate_min'])}-"
                     f"{n(back['window_rate_max'])}), RSS {n(back['rss_mb_max'], 'MB')}",
                     base, r.load_of("backlog.json")))  # fmt: skip
    sweep = r.sweep()
    if sweep:
        best = max(sweep, key=lambda d: d["mean_rate"])
        rows.append(("relay batch size sweep (rows/s)",
                     ", ".join(f"{d['batch_size']}: {n(d['mean_rate'])}" for d in sweep),
                     f"best at {best['batch_size']}",
                     r.load_of(f"backlog_batch_{sweep[0]['batch_size']}.json")))  # fmt: skip
    con = r.get("consume.json")
    if con:
        by = {x["name"]: x for x in con["results"]}
        ld = r.load_of("consume.json")
        raw, dec, fs = (by[k]["msgs_per_s"] for k in ("raw aiokafka", "raw + decode",
                                                      "faststream ack"))  # fmt: skip
        noop, one = by["ours no-op"]["msgs_per_s"], by["ours 1 ms"]["msgs_per_s"]
        rows += [
            ("worker, no-op handler", n(noop, "msgs/s"),
             f"raw aiokafka {n(raw)} ({ratio(noop, raw)}), raw + CloudEvent decode {n(dec)} "
             f"({ratio(noop, dec)}), FastStream ACK {n(fs)} ({ratio(noop, fs)})", ld),
            ("worker, 1 ms handler", n(one, "msgs/s"), f"FastStream ACK {n(fs)} "
             f"({ratio(one, fs)})", ld),
        ]  # fmt: skip
    bat = r.get("batch.json")
    if bat:
        by = {x["name"]: x["events_per_s"] for x in bat["results"]}
        ld = r.load_of("batch.json")
        for ours, base, label in (
            ("batch", "per event", ""),
            ("batch inbox", "per event inbox", ", `inbox=True`"),
        ):
            if ours in by and base in by:
                rows.append(
                    (
                        f"batch handler inserting each event into PostgreSQL{label}, "
                        f"batches of {bat['batch_size']}",
                        n(by[ours], "events/s"),
                        f"per-event handler {n(by[base])} ({ratio(by[ours], by[base])}); "
                        f"raw executemany {n(by.get('raw executemany'))}",
                        ld,
                    )
                )
    wk = r.get("workers.json")
    if wk:
        rows.append(("worker processes (`--processes N`), no-op handler",
                     ", ".join(f"{x['processes']}: {n(x['rate'])}/s"
                               + ("" if x["complete"] else f" ({n(x['events'])} done at the cap)")
                               for x in wk["runs"]),
                     "linear from 1: " + ", ".join(f"{n(x['linear'])}" for x in wk["runs"]),
                     r.load_of("workers.json")))  # fmt: skip
    ing = r.get("ingest.json")
    if ing:
        ld = r.load_of("ingest.json")
        rows += [
            ("gateway, 1 event per HTTP request (relay off)", n(ing["ours_single_rps"], "req/s"),
             f"bare Starlette INSERT endpoint {n(ing['bare_single_rps'])} req/s: "
             f"{ratio(ing['ours_single_rps'], ing['bare_single_rps'])}", ld),
            ("gateway, batches of 100, to Kafka ack", n(ing["batch_end_to_end_rate"], "events/s"),
             f"accepted at {n(ing['batch_publish_rate'])} events/s", ld),
            (f"webhook delivery, published at {n(ing['webhook_publish_rate'])}/s",
             f"{n(ing['webhook_rate'], 'events/s')}, p50 {n(ing['webhook_p50_ms'], 'ms')}, "
             f"p99 {n(ing['webhook_p99_ms'], 'ms')}",
             f"{ing['webhook_delivered']}/{ing['webhook_events']} delivered", ld),
        ]  # fmt: skip
    br = r.get("bridges.json")
    if br:
        ld = r.load_of("bridges.json")
        rows += [
            (f"OData query over {n(br['rows'])} log rows",
             f"p50 {n(br['odata_p50_ms'], 'ms', 1)}, p99 {n(br['odata_p99_ms'], 'ms', 1)}",
             f"the same SQL direct: p50 {n(br['direct_p50_ms'], 'ms', 1)}, "
             f"p99 {n(br['direct_p99_ms'], 'ms', 1)}", ld),
            ("SOAP PublishEvents of 100", n(br["soap_events_per_s"], "events/s"),
             f"REST batch of 100: {n(br['rest_events_per_s'])} events/s", ld),
        ]  # fmt: skip
    gate = r.get("compat_gate.json")
    if gate:
        parts = []
        for label in ("first batch", "held out"):
            ours, syn = gate[label]["bizevents"], gate[label]["syntactic"]
            parts.append((label, ours, syn))
        rows.append(("contract gate false alarms (hard cases)",
                     "; ".join(f"{lb}: {o['false_alarms']} of {o['holding_directions']}, "
                               f"{len(o['unsafe'])} unsafe" for lb, o, _ in parts),
                     "syntactic gate: " + "; ".join(f"{lb}: {s['false_alarms']}"
                                                    for lb, _, s in parts),
                     r.load_of("compat_gate.json")))  # fmt: skip
    soak = r.get("soak.json")
    if soak and soak.get("growth"):
        worst = max(soak["growth"].items(), key=lambda kv: kv[1]["growth_pct"])
        rows.append((f"soak, {soak['minutes']:g} min at half the measured maximum",
                     f"RSS growth after warm-up at most {worst[1]['growth_pct']:.1f}% ({worst[0]})",
                     "target < 10%", r.load_of("soak.json")))  # fmt: skip
    return rows


def table(rows: list[Row]) -> list[str]:
    out = ["| measure | ours | baseline (same run) | load average (1 min) before → after |",
           "| --- | --- | --- | --- |"]  # fmt: skip
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return out


# -- plots --------------------------------------------------------------------------------------
def plots(r: Results) -> dict[str, str]:
    """Draw what the results allow; returns {section: file name} of the PNGs written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn: dict[str, str] = {}

    def save(fig: Any, name: str, key: str) -> None:
        fig.tight_layout()
        fig.savefig(r.dir / name, dpi=90)
        plt.close(fig)
        drawn[key] = name

    # Throughput against baselines.
    bars: list[tuple[str, float, bool]] = []  # label, events/s, ours?
    pub, con, ing, br = (r.get(x) for x in ("publish.json", "consume.json", "ingest.json",
                                            "bridges.json"))  # fmt: skip
    if pub:
        bars += [("publish 100/tx: ours", pub["ours_batched"], True),
                 ("publish 100/tx: floor", pub["floor"], False),
                 ("publish 1/tx: ours", pub["ours_single"], True),
                 ("publish 1/tx: raw INSERT", pub["raw_single_insert"], False)]  # fmt: skip
    if con:
        by = {x["name"]: x["msgs_per_s"] for x in con["results"]}
        bars += [("consume: ours no-op", by["ours no-op"], True),
                 ("consume: raw aiokafka", by["raw aiokafka"], False),
                 ("consume: raw + decode", by["raw + decode"], False),
                 ("consume: FastStream ACK", by["faststream ack"], False)]  # fmt: skip
    if ing:
        bars += [("gateway 1/request: ours", ing["ours_single_rps"], True),
                 ("gateway 1/request: bare", ing["bare_single_rps"], False)]  # fmt: skip
    if br:
        bars += [("SOAP batch of 100", br["soap_events_per_s"], True),
                 ("REST batch of 100", br["rest_events_per_s"], False)]  # fmt: skip
    if bars:
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(bars) + 1.2))
        labels = [b[0] for b in bars][::-1]
        values = [max(b[1], 0.1) for b in bars][::-1]
        colors = ["tab:blue" if b[2] else "tab:gray" for b in bars][::-1]
        ax.barh(labels, values, color=colors)
        ax.set_xscale("log")
        ax.set_xlabel("events (or requests) per second, log scale; blue ours, grey baseline")
        save(fig, "throughput.png", "throughput")
    # Latency distributions.
    curves: list[tuple[str, list[float]]] = []
    if pub and pub["latency"].get("cdf_ms"):
        curves.append(("commit → Kafka ack (publish)", pub["latency"]["cdf_ms"]))
    if ing and ing.get("webhook_cdf_ms"):
        curves.append(("event time → webhook receiver", ing["webhook_cdf_ms"]))
    if br and br.get("odata_cdf_ms"):
        curves += [("OData query", br["odata_cdf_ms"]), ("same SQL direct", br["direct_cdf_ms"])]
    if curves:
        fig, ax = plt.subplots(figsize=(8, 4))
        for label, cdf in curves:
            ax.plot([max(v, 1e-3) for v in cdf], range(len(cdf)), label=label)
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds (log scale)")
        ax.set_ylabel("percentile")
        ax.grid(True, alpha=0.3)
        ax.legend()
        save(fig, "latency.png", "latency")
    # Drain over time, and the relay's rate by batch size.
    back, sweep = r.get("backlog.json"), r.sweep()
    if back or sweep:
        fig, (ax, by_size) = plt.subplots(1, 2, figsize=(12, 4), width_ratios=[3, 2])
        if back:
            ax.plot([0] + [s["t"] for s in back["samples"]],
                    [back["rows"]] + [s["left"] for s in back["samples"]],
                    label=f"{back['rows']:,} rows, batch {back.get('batch_size', 1000)}",
                    linewidth=2)  # fmt: skip
            rss = ax.twinx()
            rss.plot([s["t"] for s in back["samples"]], [s["rss_mb"] for s in back["samples"]],
                     color="tab:red", linestyle=":", label="relay RSS (MB)")  # fmt: skip
            rss.set_ylabel("relay RSS, MB (dotted)")
            rss.set_ylim(bottom=0)
        for d in sweep:
            ax.plot([0] + [s["t"] for s in d["samples"]],
                    [d["rows"]] + [s["left"] for s in d["samples"]],
                    label=f"{d['rows']:,} rows, batch {d['batch_size']}", alpha=0.7)  # fmt: skip
        ax.set_title("outbox drain over time")
        ax.set_xlabel("seconds")
        ax.set_ylabel("rows left in the outbox")
        ax.legend(loc="upper right", fontsize="small")
        if sweep:
            by_size.plot([d["batch_size"] for d in sweep], [d["mean_rate"] for d in sweep], "o-")
            by_size.set_xscale("log")
        by_size.set_title("relay drain rate by batch size")
        by_size.set_xlabel("BIZEVENTS_RELAY_BATCH_SIZE (log scale)")
        by_size.set_ylabel("rows/s")
        by_size.set_ylim(bottom=0)
        save(fig, "drain.png", "drain")
    # Worker processes.
    wk = r.get("workers.json")
    if wk:
        fig, ax = plt.subplots(figsize=(6, 4))
        procs = [x["processes"] for x in wk["runs"]]
        ax.plot(procs, [x["rate"] for x in wk["runs"]], "o-", label="measured")
        ax.plot(procs, [x["linear"] for x in wk["runs"]], "--", color="gray",
                label="linear from 1 process")  # fmt: skip
        ax.axvline(wk.get("cpus") or 0, color="tab:red", alpha=0.3, label="cores")
        ax.set_xticks(procs)
        ax.legend(fontsize="small")
        ax.set_title("worker processes (no-op handler)")
        ax.set_xlabel("processes")
        ax.set_ylabel("events/s")
        ax.set_ylim(bottom=0)
        save(fig, "workers.png", "workers")
    # Soak.
    soak = r.get("soak.json")
    if soak and soak.get("samples"):
        samples = soak["samples"]
        minutes = [s["t"] / 60 for s in samples]
        fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
        # Growth relative to each process's RSS at the end of the warm-up: the 10% target line.
        for proc, g in soak["growth"].items():
            base = g["after_warmup_mb"] or 1.0
            axes[0].plot(minutes, [100 * (s["rss_mb"][proc] / base - 1) for s in samples],
                         label=f"{proc} ({base:.0f} MB)")  # fmt: skip
        axes[0].axvline(soak["warmup_s"] / 60, color="gray", linestyle="--", label="warm-up end")
        axes[0].axhline(soak.get("target_growth_pct", 10), color="tab:red", alpha=0.4,
                        label="target")  # fmt: skip
        axes[0].set_ylabel("RSS change from warm-up end, %")
        axes[0].legend(fontsize="small", ncol=3)
        for label in samples[0]["latency_ms"]:
            for q, style in (("p50", "-"), ("p99", ":")):
                axes[1].plot(minutes, [s["latency_ms"][label][q] or float("nan") for s in samples],
                             style, label=f"{label} {q}")  # fmt: skip
        axes[1].set_yscale("log")
        axes[1].set_ylabel("commit → handler, ms (log)")
        axes[1].legend(fontsize="x-small", ncol=3)
        axes[2].plot(minutes, [sum(s["lag"].values()) for s in samples], label="consumer lag")
        axes[2].plot(minutes, [s["load"][0] for s in samples], label="load average (1 min)")
        axes[2].set_xlabel("minutes")
        axes[2].legend(fontsize="small")
        save(fig, "soak.png", "soak")
    return drawn


# -- the capacity model ---------------------------------------------------------------------------
def capacity(r: Results) -> list[str]:
    pub, back, con, wk, ing = (r.get(x) for x in ("publish.json", "backlog.json", "consume.json",
                                                  "workers.json", "ingest.json"))  # fmt: skip
    sweep = r.sweep()
    cores = r.meta.get("machine", {}).get("cores") or os.cpu_count()
    out = [
        "Every figure here is from this run, on this machine, under the load shown beside it: "
        "Kafka, PostgreSQL, the load generator and the process measured share "
        f"{cores} cores. Anything said about more brokers, databases or cores is extrapolation "
        "from these single-node figures and is marked so.",
        "",
        "**One relay** (one per outbox database; a standby takes over, it does not add "
        "throughput).",
    ]
    relay_rate = None
    if back:
        relay_rate = back["mean_rate"]
        out.append(f"- Measured: it drains a backlog at {n(back['mean_rate'])} rows/s "
                   f"(load {r.load_of('backlog.json')}); resident memory "
                   f"{n(back['rss_mb_first'])} MB at the first sample, at most "
                   f"{n(back['rss_mb_max'])} MB while draining "
                   f"{n(back['rows'])} rows.")  # fmt: skip
    if pub:
        out.append(f"- Its two halves measured alone in the publish run: the claim + DELETE in "
                   f"PostgreSQL {n(pub['R_claim_delete'])} rows/s, the Kafka send "
                   f"{n(pub['P_send_batch'])} msgs/s. The relay overlaps the next claim with the "
                   "current send, so it is bounded by the slower half, and by one Python "
                   "process building the records.")  # fmt: skip
        if relay_rate:
            limit = ("PostgreSQL (claim + DELETE)" if pub["R_claim_delete"] < pub["P_send_batch"]
                     else "the Kafka send")  # fmt: skip
            out.append(f"- What limits it here: the slower half is {limit}; the relay reached "
                       f"{ratio(relay_rate, min(pub['R_claim_delete'], pub['P_send_batch']))} "
                       "of it.")  # fmt: skip
    if sweep:
        best = max(sweep, key=lambda d: d["mean_rate"])
        out.append("- Batch size: " + ", ".join(f"{d['batch_size']} → {n(d['mean_rate'])} rows/s"
                                                for d in sweep)
                   + f"; best here at {best['batch_size']}. Small batches pay one round trip "
                   "to each of PostgreSQL and Kafka per batch.")  # fmt: skip
    if not (back or pub):
        out.append("- Not measured in this run.")
    out += ["", "**One worker process.**"]
    per_process = None
    if con:
        by = {x["name"]: x["msgs_per_s"] for x in con["results"]}
        per_process = by["ours no-op"]
        out.append(f"- Measured: {n(by['ours no-op'])} events/s with a no-op handler, "
                   f"{n(by['ours 1 ms'])} with a 1 ms handler (load {r.load_of('consume.json')}). "
                   f"Raw aiokafka reads {n(by['raw aiokafka'])} msgs/s but decodes nothing; "
                   f"decoding each record as a CloudEvent alone caps one process at "
                   f"{n(by['raw + decode'])} msgs/s.")  # fmt: skip
        out.append("- What limits it: CPU in one Python process (decoding, per-key lanes, "
                   "offset tracking). With a real handler, the handler's own time divided by "
                   "the concurrency (64 by default) adds to it.")  # fmt: skip
    if wk:
        runs = wk["runs"]
        out.append("- With `--processes N`: " + ", ".join(
            f"{x['processes']} → {n(x['rate'])} events/s ({n(x['events_per_cpu_s'])} per CPU-s)"
            for x in runs) + f" (load {r.load_of('workers.json')}). Beyond {cores} processes "
            "nothing is gained on this machine: there is no more CPU to give.")  # fmt: skip
        cpu_rates = [x["events_per_cpu_s"] for x in runs if x.get("events_per_cpu_s")]
        if cpu_rates and per_process is None:
            per_process = max(cpu_rates)
    if not (con or wk):
        out.append("- Not measured in this run.")
    out += ["", "**One gateway process.**"]
    gateway_rate = None
    if ing:
        gateway_rate = ing["batch_end_to_end_rate"]
        out.append(f"- Measured: {n(ing['ours_single_rps'])} requests/s of one event each "
                   f"against {n(ing['bare_single_rps'])} for a bare endpoint doing the same "
                   f"INSERT and commit; {n(ing['batch_end_to_end_rate'])} events/s in batches "
                   f"of 100 to the Kafka ack (load {r.load_of('ingest.json')}).")  # fmt: skip
        out.append(
            "- What limits it: one event per request pays an HTTP round trip, an API-key "
            "lookup in PostgreSQL and one transaction; the bare endpoint shows the part "
            "that is not ours. Batches amortise all three. The broker process also runs "
            "its relay, webhook workers and event log consumer on the same cores."
        )
    else:
        out.append("- Not measured in this run.")
    out += ["", "**A cluster: N brokers, M relays (one per outbox database), K worker processes "
            "(extrapolation).**"]  # fmt: skip
    p_broker = pub["P_send_batch"] if pub else None
    out += [
        "- Publishing scales with outbox databases: M relays move about M x "
        f"{nm(relay_rate)} events/s if each database has the CPU this one had, and if Kafka "
        "takes it. Nothing here measured two databases.",
        f"- Kafka: one broker here took {nm(p_broker)} msgs/s from one producer (acks=all, "
        "replication factor 1). With N brokers and partitions spread over them, the write "
        f"capacity is at most about N x {nm(p_broker)} msgs/s; replication factor 3 sends "
        "every record to three brokers, so expect it to cost a large part of that. Not measured.",
        f"- Workers: K processes handle about K x {nm(per_process)} events/s with a no-op "
        "handler, provided there are at least K partitions (a partition is read by one process "
        f"of a group) and a core per process. On {cores} cores the scaling run above is the "
        "measured limit.",
        "- Gateways are stateless apart from PostgreSQL: G processes take about G x "
        f"{nm(gateway_rate)} events/s in batches, until the gateway's outbox database or its "
        "relay (one per gateway database) is the limit.",
        "- The whole flow runs at the smallest of these: "
        "min(M x relay, N x broker, K x worker process, G x gateway).",
    ]
    return out


# -- the report -------------------------------------------------------------------------------
def section(title: str, body: list[str], doc: Any, plot: str | None = None) -> list[str]:
    out = [f"## {title}", ""]
    if doc is None:
        return [*out, "Not run in this report (or it failed: see Steps).", ""]
    out += body
    if plot:
        out += ["", f"![{title}]({plot})"]
    return [*out, ""]


def render(directory: Path) -> Path:
    r = Results(directory)
    drawn = plots(r)
    m = r.meta.get("machine", {})
    lines = [
        "# bizevents benchmark report",
        "",
        f"Generated by `bench/report.py` ({r.meta.get('profile', '?')} profile), "
        f"{r.meta.get('started_at', '?')[:19]} to {r.meta.get('finished_at', '?')[:19]} UTC"
        + (
            f" (some steps run again from {r.meta['amended_at'][:19]} UTC, commit "
            f"{r.meta.get('amended_commit', '?')}: see Steps)"
            if "amended_at" in r.meta
            else ""
        )
        + ". "
        "Each figure comes with its baseline measured in the same run and the machine's load "
        "average before and after the benchmark it comes from.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    names = {"cores": "cores", "cpu_model": "CPU", "memory_gb": "memory (GB)",
             "kernel": "kernel", "python": "Python", "kafka": "Kafka",
             "postgresql": "PostgreSQL", "aiokafka": "aiokafka", "asyncpg": "asyncpg",
             "bizevents": "bizevents", "commit": "commit"}  # fmt: skip
    lines += [f"| {label} | {m.get(key, '?')} |" for key, label in names.items()]
    lines += ["", "## Summary", "", *table(summary_rows(r)), ""]
    if "throughput" in drawn:
        lines += ["![throughput against baselines](throughput.png)", ""]
    if "latency" in drawn:
        lines += ["![latency distributions](latency.png)", ""]
    pub = r.get("publish.json")
    lines += section("Publishing (bench/publish.py)", [
        "| figure | value |", "| --- | --- |",
        *(f"| {k} | {n(v, '', 1)} |" for k, v in (pub or {}).items() if isinstance(v, float)),
        "", f"Latency at {n(pub['latency']['rate'])} events/s: p50 "
        f"{n(pub['latency']['p50_ms'], 'ms', 2)}, p99 {n(pub['latency']['p99_ms'], 'ms', 2)}, "
        f"max {n(pub['latency']['max_ms'], 'ms', 2)} over {pub['latency']['count']} events."
        if pub else "",
        f"Load {r.load_of('publish.json')}."], pub)  # fmt: skip
    back, sweep = r.get("backlog.json"), r.sweep()

    def sweep_load(d: dict[str, Any]) -> str:
        return r.load_of(f"backlog_batch_{d['batch_size']}.json")

    lines += section("Relay: backlog drain and batch size (bench/backlog.py)", [
        f"{n(back['rows'])} rows drained in {n(back['seconds'], 's', 1)}: mean "
        f"{n(back['mean_rate'])} rows/s, windows {n(back['window_rate_min'])}-"
        f"{n(back['window_rate_max'])} rows/s; relay RSS {n(back['rss_mb_first'])} → max "
        f"{n(back['rss_mb_max'])} MB (load {r.load_of('backlog.json')})." if back else
        "The large backlog run is missing.", "",
        "| batch size | rows | rows/s | relay RSS max (MB) | load |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {d['batch_size']} | {n(d['rows'])} | {n(d['mean_rate'])} | {n(d['rss_mb_max'])} | "
          f"{sweep_load(d)} |" for d in sweep),
    ], back or (sweep or None), drawn.get("drain"))  # fmt: skip
    con = r.get("consume.json")
    lines += section("Consuming (bench/consume.py)", [
        "| contender | msgs/s | x raw | x raw+decode | x FastStream | complete |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {x['name']} | {n(x['msgs_per_s'])} | {x['ratio_raw']} | {x['ratio_raw_decode']} | "
          f"{x['ratio_faststream']} | {x['complete']} |" for x in (con or {}).get("results", [])),
        "", f"{n((con or {}).get('events'))} events over {(con or {}).get('partitions')} "
        f"partitions; load {r.load_of('consume.json')}."], con)  # fmt: skip
    bat = r.get("batch.json")
    lines += section("Batch handlers (bench/batch.py)", [
        "| contender | events/s | baseline | x baseline | x raw executemany | complete |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {x['name']} | {n(x['events_per_s'])} | {x['baseline'] or ''} | "
          f"{x['ratio_baseline'] or ''} | {x['ratio_raw'] or ''} | {x['complete']} |"
          for x in (bat or {}).get("results", [])),
        "", f"{n((bat or {}).get('events'))} events over {(bat or {}).get('partitions')} "
        f"partitions, each inserted as a row; load {r.load_of('batch.json')}."], bat)  # fmt: skip
    wk = r.get("workers.json")
    lines += section("Worker processes (bench/workers.py)", [
        "| processes | events/s | linear from 1 | x linear | first commit after (s) | "
        "events per CPU-s | load before → after |", "| --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {x['processes']} | {n(x['rate'])} | {n(x['linear'])} | {x['x_linear']} | "
          f"{x['first_commit_after_s']} | {n(x['events_per_cpu_s'])} | {x['load_before']} → "
          f"{x['load_after']} |" for x in (wk or {}).get("runs", [])),
        "", "Events per CPU-second count start-up (imports, group join) too, which weighs more "
        "with more processes."], wk, drawn.get("workers"))  # fmt: skip
    ing = r.get("ingest.json")
    lines += section("HTTP gateway (bench/ingest.py)", [
        "| figure | value |", "| --- | --- |",
        *(f"| {k} | {n(v, '', 1)} |" for k, v in (ing or {}).items() if isinstance(v, float)),
        "", f"Load {r.load_of('ingest.json')}."], ing)  # fmt: skip
    br = r.get("bridges.json")
    lines += section("OData and SOAP bridges (bench/bridges.py)", [
        "| figure | value |", "| --- | --- |",
        *(f"| {k} | {n(v, '', 2)} |" for k, v in (br or {}).items() if isinstance(v, float)),
        "", f"Plan: {' > '.join((br or {}).get('plan', []))}. Load {r.load_of('bridges.json')}."],
        br)  # fmt: skip
    gate = r.get("compat_gate.json")
    lines += section("Contract gate (bench/compat_gate.py)", [
        "| cases | bizevents false alarms | unsafe | syntactic false alarms | syntactic unsafe |",
        "| --- | --- | --- | --- | --- |",
        *(f"| {lb} ({gate[lb]['bizevents']['cases']}) | {gate[lb]['bizevents']['false_alarms']} "
          f"| {len(gate[lb]['bizevents']['unsafe'])} | {gate[lb]['syntactic']['false_alarms']} | "
          f"{len(gate[lb]['syntactic']['unsafe'])} |" for lb in ("first batch", "held out")
          if gate),
        "" if not gate or "timing" not in gate else
        f"`contracts check` CLI {gate['timing']['cli_check_s']:.3f} s (Python + import alone "
        f"{gate['timing']['cli_import_only_s']:.3f} s).", f"Load {r.load_of('compat_gate.json')}."],
        gate)  # fmt: skip
    lines += soak_section(r, drawn.get("soak"))
    lines += ["## Capacity model", "", *capacity(r), ""]
    lines += ["## Steps", "", "| benchmark | command | status | started (UTC) | seconds | "
              "load before | load after |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for s in r.meta.get("steps", []):
        lines.append(f"| {s['name']} | `{s['command']}` | {s['status']} | "
                     f"{s.get('started_at', '-')[11:19]} | {s.get('seconds', '-')} "
                     f"| {' '.join(map(str, s.get('load_before', [])))} | "
                     f"{' '.join(map(str, s.get('load_after', [])))} |")  # fmt: skip
    lines += ["", "Load averages are 1, 5 and 15 minutes. Logs of each step are under "
              "`bench/results/logs/`."]  # fmt: skip
    report = directory / "REPORT.md"
    report.write_text("\n".join(lines) + "\n")
    return report


def soak_section(r: Results, plot: str | None) -> list[str]:
    soak = r.get("soak.json")
    if not soak or not soak.get("growth"):
        return section("Soak (bench/soak.py)", [], None)
    own = "soak.json" in r.steps
    body = [
        f"{soak['minutes']:g} minutes from {soak['started_at'][:19]} UTC"
        + ("" if own else " (a separate `bench/soak.py` run, not part of this report's run)")
        + f", load {r.load_of('soak.json')}. SDK in (OrderPlaced, outbox + relay) and gateway "
        "in (OrderShipped), a worker process and a webhook receiver out. The probe measured "
        f"a maximum of {n(soak['probe']['max']['sdk'], 'events/s', 1)} through the SDK path "
        f"and {n(soak['probe']['max']['gateway'], 'events/s', 1)} through the gateway and its "
        f"webhook; the soak ran each at half: {n(soak['rates']['sdk'], '', 1)} and "
        f"{n(soak['rates']['gateway'], '', 1)} events/s. Warm-up: the first "
        f"{soak['warmup_s'] / 60:g} minutes.",
        "",
        "| process | RSS after warm-up (MB) | at the end (MB) | growth | peak (MB) | < 10% |",
        "| --- | --- | --- | --- | --- | --- |",
        *(f"| {p} | {g['after_warmup_mb']:.1f} | {g['end_mb']:.1f} | {g['growth_pct']:.1f}% | "
          f"{g['peak_mb']:.1f} | {'yes' if g['within_target'] else 'no'} |"
          for p, g in soak["growth"].items()),
        "",
        "| path | p50 (median of 10-s windows) | p99 (median) | worst 10-s p99 |",
        "| --- | --- | --- | --- |",
        *(f"| {k} | {n(v['p50_ms_median'], 'ms', 1)} | {n(v['p99_ms_median'], 'ms', 1)} | "
          f"{n(v['p99_ms_worst'], 'ms', 1)} |" for k, v in soak["summary"].items()
          if isinstance(v, dict) and "p99_ms_worst" in v),  # not the request-only entry
        "",
        *([f"The gateway's own share of its latency (request sent to 202): p50 "
           f"{n(soak['summary']['gateway_request']['p50_ms_median'], 'ms', 1)}, p99 "
           f"{n(soak['summary']['gateway_request']['p99_ms_median'], 'ms', 1)}.", ""]
          if "gateway_request" in soak["summary"] else []),
        *still_growing(soak),
        f"Consumer lag after warm-up: at most {soak['summary']['lag_max']}, "
        f"{soak['summary']['lag_end']} at the end. Published {soak['published']}, errors "
        f"{soak['errors']}, not received at the end {soak['not_received']}.",
    ]  # fmt: skip
    return section("Soak (bench/soak.py)", body, soak, plot)


def still_growing(soak: dict[str, Any]) -> list[str]:
    """Whether a process's memory was still rising over the run's last third (a leak is
    linear; a warm cache flattens out): more than 1% there is said."""
    samples = soak["samples"]
    third = samples[len(samples) * 2 // 3 :]
    if len(third) < 2:
        return []
    rising = []
    for proc in samples[0]["rss_mb"]:
        first, last = third[0]["rss_mb"][proc], third[-1]["rss_mb"][proc]
        if first and (last - first) / first > 0.01:
            rising.append(f"{proc} +{100 * (last - first) / first:.1f}%")
    if not rising:
        return ["No process's memory rose more than 1% over the last third of the run.", ""]
    minutes = (third[-1]["t"] - third[0]["t"]) / 60
    return [f"Still rising over the last {minutes:.0f} minutes: {', '.join(rising)}; a longer "
            "soak would show whether it levels off.", ""]  # fmt: skip


def update_readme(directory: Path) -> None:
    text = README.read_text()
    if README_START not in text:
        print("README has no summary markers; not updated")
        return
    r = Results(directory)
    block = [README_START, "", f"From `bench/report.py` on {r.meta.get('started_at', '?')[:10]} "
             f"({r.meta.get('machine', {}).get('cores', '?')} cores, commit "
             f"{r.meta.get('machine', {}).get('commit', '?')}); the full report with plots, "
             "method and capacity model: [bench/results/REPORT.md](bench/results/REPORT.md). "
             "Read the last column first: a load average above the number of cores means the "
             "benchmark shared the CPU with other work, and its figure shows that, not the "
             "code's limit.",
             "", *table(summary_rows(r)), "", README_END]  # fmt: skip
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    README.write_text(head + "\n".join(block) + tail)


def main(argv: list[str] | None = None, on_done: Callable[[Path], None] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    mode.add_argument("--profile", choices=PROFILES, help="tiny is for the test suite")
    mode.add_argument("--render", action="store_true", help="only re-render from the JSON there")
    parser.add_argument("--only", help="comma-separated benchmark names (publish, backlog, "
                        "relay, consume, batch, workers, ingest, bridges, "
                        "compat_gate)")  # fmt: skip
    parser.add_argument(
        "--soak-minutes",
        type=float,
        default=0.0,
        help="also run a soak of this length (default: include the latest)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="with --only: keep the last run's other steps in the report",
    )
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument(
        "--readme",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the summary into the README (default: full profile only)",
    )
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else (args.profile or "full")
    if not args.render:
        only = set(args.only.split(",")) if args.only else None
        run_all(profile, args.results, only, args.soak_minutes, args.keep)
    report = render(args.results)
    readme = args.readme if args.readme is not None else (profile == "full" and not args.render)
    if readme:
        update_readme(args.results)
    print(f"written {report}")
    if on_done:
        on_done(report)
    return report


if __name__ == "__main__":
    main()
