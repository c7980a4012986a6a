"""`bizevents topics plan|apply`: the Kafka topics that the contracts and subscriber groups need."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import typer
import yaml
from rich.console import Console
from rich.table import Table

from ..contracts import load_contracts
from ..contracts.model import ContractSet
from ..errors import BizEventsError
from ..mesh import Naming
from ..ops.topicplan import (
    Action,
    Change,
    Defaults,
    GroupTopics,
    TopicSpec,
    diff,
    managed,
    plan,
)
from ..settings import ConnectionSettings
from .base import command_group

T = TypeVar("T")

app = command_group("Kafka topics from the contracts: plan, then apply.")

PATH = typer.Argument(Path("contracts"), help="Contracts folder (or one file).")
APPS = typer.Option(
    [],
    "--app",
    help="An app's Events object (module:attribute) whose subscriber groups need "
    "retry, replay and dead-letter topics (repeatable).",
)
PARTITIONS = typer.Option(3, min=1, help="Partitions of event topics without a Kafka binding.")
REPLICAS = typer.Option(
    None,
    min=1,
    help="Replicas of topics without a Kafka binding (default: min(3, brokers); 3 for --strimzi).",
)

_STYLE = {
    Action.CREATE: "green",
    Action.ADD_PARTITIONS: "yellow",
    Action.ALTER_CONFIG: "yellow",
    Action.DELETE: "red",
    Action.KEEP_EXTRA: "dim",
    Action.UNCHANGED: "dim",
}


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


def app_groups(specs: list[str]) -> list[GroupTopics]:
    """The subscriber groups of the named apps, with the retry topics their policies use."""
    from ..topics import retry_topic
    from ..worker import WorkerSettings
    from ..worker.backoff import delay_label
    from ..worker.runner import router_of
    from .worker import load_object

    groups: dict[str, GroupTopics] = {}
    for spec in specs:
        router = router_of(load_object(spec)).with_policy(WorkerSettings())
        for name in router.groups():
            subs = router.for_group(name)
            retries = {
                retry_topic(name, delay_label(d))
                for s in subs.values()
                for d in (s.retry.delays or ())
            }
            old = groups.get(name, GroupTopics(name, (), ()))
            groups[name] = GroupTopics(
                name,
                tuple(sorted({*old.event_types, *subs})),
                tuple(sorted({*old.retry_topics, *retries})),
            )
    return list(groups.values())


def _load(path: Path, apps: list[str]) -> tuple[ContractSet, list[GroupTopics]]:
    try:
        return load_contracts(path), app_groups(apps)
    except BizEventsError as exc:
        raise _fail(str(exc)) from exc


async def _cluster(
    settings: ConnectionSettings, wanted: Any, allow_delete: bool
) -> tuple[list[Change], dict[str, dict[str, str]], int]:
    from aiokafka.admin import AIOKafkaAdminClient

    from ..ops import topicadmin

    admin = AIOKafkaAdminClient(**settings.kafka_client_options(), request_timeout_ms=15000)
    await admin.start()
    try:
        brokers = await topicadmin.broker_count(admin)
        specs = wanted(brokers)
        names = {s.name for s in specs}
        state, overrides = await topicadmin.read_state(
            admin, lambda name: name in names or managed(name, specs)
        )
    finally:
        await admin.close()
    return diff(specs, state, allow_delete=allow_delete), overrides, brokers


def _print(changes: list[Change], console: Console, verbose: bool) -> None:
    table = Table("action", "topic", "role", "partitions", "replicas", "detail", box=None)
    for c in changes:
        if c.action is Action.UNCHANGED and not (verbose or c.warnings):
            continue
        spec = c.spec
        detail = c.detail + "".join(f"\n[yellow]warning:[/] {w}" for w in c.warnings)
        table.add_row(
            f"[{_STYLE[c.action]}]{c.action.value}[/]",
            c.topic,
            spec.role.value if spec else "",
            str(spec.partitions) if spec else "",
            str(spec.replicas) if spec else "",
            detail,
        )
    console.print(table)
    counts = {a: sum(c.action is a for c in changes) for a in Action}
    console.print(", ".join(f"{n} {a.value}" for a, n in counts.items() if n))


def _wanted(
    contracts: ContractSet, groups: list[GroupTopics], partitions: int, replicas: int | None
) -> Any:
    try:
        settings = ConnectionSettings()
        naming = Naming(settings.space, settings.mendix_topic_prefix)
    except (BizEventsError, pydantic.ValidationError) as exc:
        raise _fail(str(exc)) from exc

    def build(brokers: int) -> list[TopicSpec]:
        try:
            return plan(
                contracts, groups, Defaults(partitions, replicas or min(3, brokers)), naming
            )
        except BizEventsError as exc:  # e.g. a Mendix topic without a space
            raise _fail(str(exc)) from exc

    return build


def _run(coro: Coroutine[Any, Any, T], settings: ConnectionSettings) -> T:
    """Run against the cluster; an unreachable or failing Kafka is one clear line, exit 1."""
    from aiokafka.errors import KafkaError

    # aiokafka logs each failed connection attempt; the one line below says it all.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(coro)
    except (OSError, KafkaError) as exc:  # TimeoutError is an OSError
        raise _fail(
            f"cannot use Kafka at {settings.kafka_bootstrap}: {type(exc).__name__}: {exc}"
        ) from exc


@app.command("plan")
def plan_command(
    path: Path = PATH,
    apps: list[str] = APPS,
    partitions: int = PARTITIONS,
    replicas: int | None = REPLICAS,
    as_json: bool = typer.Option(False, "--json", help="The changes as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List unchanged topics too."),
    allow_delete: bool = typer.Option(False, "--allow-delete", help="Plan deletions too."),
    strimzi: Path | None = typer.Option(
        None,
        "--strimzi",
        help="Write the topics as Strimzi KafkaTopic resources to this file "
        "('-' for stdout) instead of comparing with a cluster.",
    ),
    cluster: str = typer.Option("bizevents", help="Strimzi cluster name (strimzi.io/cluster)."),
    namespace: str | None = typer.Option(None, help="Kubernetes namespace of the resources."),
) -> None:
    """Compare the topics the contracts need with the cluster's (nothing is changed)."""
    contracts, groups = _load(path, apps)
    wanted = _wanted(contracts, groups, partitions, replicas)
    if strimzi is not None:
        from ..ops.strimzi import kafka_topics

        text = yaml.safe_dump_all(kafka_topics(wanted(3), cluster, namespace), sort_keys=False)
        if str(strimzi) == "-":
            sys.stdout.write(text)
        else:
            strimzi.write_text(text)
            typer.echo(f"wrote {len(wanted(3))} KafkaTopic resources to {strimzi}")
        return
    settings = ConnectionSettings()
    changes, _, _ = _run(_cluster(settings, wanted, allow_delete), settings)
    if as_json:
        typer.echo(json.dumps({"changes": [c.to_dict() for c in changes]}, indent=2))
        return
    _print(changes, Console(), verbose)


@app.command("apply")
def apply_command(
    path: Path = PATH,
    apps: list[str] = APPS,
    partitions: int = PARTITIONS,
    replicas: int | None = REPLICAS,
    allow_delete: bool = typer.Option(
        False, "--allow-delete", help="Delete managed topics that the plan no longer lists."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Show the plan, then create topics, add partitions and set retention (deletes only with
    --allow-delete)."""
    from aiokafka.admin import AIOKafkaAdminClient

    from ..ops import topicadmin

    contracts, groups = _load(path, apps)
    wanted = _wanted(contracts, groups, partitions, replicas)
    settings = ConnectionSettings()
    console = Console()

    async def go() -> list[Change] | None:
        changes, overrides, _ = await _cluster(settings, wanted, allow_delete)
        _print(changes, console, verbose=False)
        todo = [c for c in changes if c.changes_cluster]
        if not todo:
            return []
        if not yes:
            if not sys.stdin.isatty():
                raise _fail("changes need confirmation: run with --yes")
            if not typer.confirm("Apply these changes?"):
                return None
        admin = AIOKafkaAdminClient(**settings.kafka_client_options())
        await admin.start()
        try:
            return await topicadmin.apply(admin, todo, overrides)
        finally:
            await admin.close()

    try:
        done = _run(go(), settings)
    except topicadmin.TopicChangeError as exc:
        raise _fail(f"Kafka refused a change: {exc}") from exc
    if done is None:
        raise typer.Exit(1)
    console.print(f"applied {len(done)} change(s)" if done else "nothing to change")
