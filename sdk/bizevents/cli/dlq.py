"""`bizevents dlq list|show|replay|purge|ingest` and `bizevents replay` (one group's history)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..dlq import (
    DeadLetterFilter,
    DeadLetterIngester,
    DeadLetterSettings,
    DeadLetterStore,
    Status,
    StoredDeadLetter,
    parse_start,
    replay_dead_letters,
    replay_history,
)
from ..errors import BizEventsError, DeadLetterError
from ..logging import configure_logging, redact_url
from ..settings_doc import epilog
from .base import command_group

app = command_group("Inspect, replay and purge dead letters.")
READS = epilog(DeadLetterSettings)
out = Console()
err = Console(stderr=True)
T = TypeVar("T")

# Shared options (typer needs them as defaults of each command).
TYPE = typer.Option([], "--type", "-t", metavar="TYPE", help="CloudEvent type (repeatable).")
GROUP = typer.Option([], "--group", "-g", metavar="GROUP", help="Subscriber group (repeatable).")
SINCE = typer.Option(
    None, metavar="TIME", help="Last failure at or after: ISO 8601 time or 90m / 2h / 1d ago."
)
UNTIL = typer.Option(
    None, metavar="TIME", help="Last failure before: ISO 8601 time or 90m / 2h / 1d ago."
)
ERROR = typer.Option(
    None, "--error", "-e", metavar="TEXT", help="Text in the error message or type (ILIKE)."
)
STATUS = typer.Option(
    [], "--status", "-s", metavar="STATUS", help="dead, replayed or purged (repeatable)."
)
IDS = typer.Option([], "--id", metavar="ID", help="Dead-letter id (repeatable).")
JSON_OUT = typer.Option(False, "--json", help="Machine-readable output.")


def _time(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    start = parse_start(text, flag=flag)
    if start.time is None:
        raise DeadLetterError(f"{flag} {text!r} must be a time or a duration, not an offset")
    return start.time


def _filter(
    types: list[str],
    groups: list[str],
    since: str | None,
    until: str | None,
    error: str | None,
    statuses: list[str],
    ids: list[int] | None = None,
    limit: int | None = None,
    before: int | None = None,
) -> DeadLetterFilter:
    try:
        status_values = tuple(Status(s) for s in statuses)
    except ValueError:
        raise DeadLetterError(
            f"--status must be one of {', '.join(s.value for s in Status)}"
        ) from None
    return DeadLetterFilter(
        types=tuple(types),
        groups=tuple(groups),
        since=_time(since, "--since"),
        until=_time(until, "--until"),
        error=error,
        statuses=status_values,
        ids=tuple(ids or ()),
        before_id=before,
        limit=limit,
    )


@asynccontextmanager
async def _store(settings: DeadLetterSettings) -> AsyncIterator[DeadLetterStore]:
    try:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DeadLetterError(
            f"cannot connect to {redact_url(settings.database_url)}: {exc}"
        ) from exc
    try:
        store = DeadLetterStore(pool, settings.dlq_schema)
        await store.migrate()
        yield store
    finally:
        await pool.close()


def _quiet_logs(settings: DeadLetterSettings, level: str = "WARNING", json: bool = False) -> None:
    """Logs to stderr (stdout is for tables and --json), warnings only unless told."""
    configure_logging(level, json or settings.log_json, settings.library_log_level)


def _run(
    work: Callable[[DeadLetterStore], Awaitable[T]],
    log_level: str = "WARNING",
    log_json: bool = False,
) -> T:
    settings = _settings()
    _quiet_logs(settings, log_level, log_json)

    async def main() -> T:
        async with _store(settings) as store:
            return await work(store)

    with _errors():
        return asyncio.run(main())


def _settings() -> DeadLetterSettings:
    with _errors():
        return DeadLetterSettings()


@contextmanager
def _errors() -> Any:
    try:
        yield
    except BizEventsError as exc:
        # Not rich: it would wrap the line and read brackets in the message as markup.
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command("list", epilog=READS)
def list_(
    types: list[str] = TYPE,
    groups: list[str] = GROUP,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    error: str | None = ERROR,
    statuses: list[str] = STATUS,
    limit: int = typer.Option(50, help="Rows per page."),
    before: int | None = typer.Option(None, help="Page cursor: ids below this one."),
    as_json: bool = JSON_OUT,
) -> None:
    """List dead letters, newest first."""
    with _errors():
        f = _filter(types, groups, since, until, error, statuses, limit=limit, before=before)
    page = _run(lambda store: store.list(f))
    if as_json:
        nxt = page.next.before_id if page.next else None
        out.print_json(json.dumps({"items": [i.summary() for i in page.items], "next": nxt}))
        return
    if not page.items and before is None:
        err.print(
            "no dead letters match. Workers first send them to the bizevents.dlq.<group> "
            "topics; `bizevents dlq ingest` copies them into this store (or run workers with "
            "BIZEVENTS_DLQ_STORE=1)."
        )
        return
    table = Table("id", "group", "type", "event id", "error", "att.", "last failure", "status")
    for item in page.items:
        table.add_row(
            str(item.id),
            item.group,
            item.event_type or "[dim](undecodable)[/dim]",
            item.event_id or "",
            f"{item.error_type}: {item.error}"[:80] if item.error_type else item.error[:80],
            str(item.attempts),
            _when(item.last_failure),
            item.status.value,
        )
    out.print(table)
    if page.next is not None:
        out.print(f"more: add --before {page.next.before_id}")


@app.command(epilog=READS)
def show(
    letter_id: int = typer.Argument(..., help="Dead-letter id."), as_json: bool = JSON_OUT
) -> None:
    """Everything about one dead letter: the error, stack, headers and payload."""
    item = _run(lambda store: store.get(letter_id))
    detail = _detail(item)
    if as_json:
        out.print_json(json.dumps(detail))
        return
    table = Table(show_header=False)
    for name, value in detail.items():
        text = json.dumps(value, indent=2) if isinstance(value, dict | list) else str(value)
        table.add_row(f"[bold]{name}[/bold]", text)
    out.print(table)


def _detail(item: StoredDeadLetter) -> dict[str, Any]:
    detail = item.summary()
    detail["stack"] = item.stack
    detail["key"] = item.key.decode("utf-8", errors="replace") if item.key is not None else None
    detail["headers"] = {n: v.decode("utf-8", errors="replace") for n, v in item.headers}
    payload: Any = None
    if item.value is not None:
        try:
            payload = json.loads(item.value)
        except ValueError:
            payload = item.value.decode("utf-8", errors="replace")
    detail["value"] = payload
    detail["stored_at"] = item.stored_at.isoformat()
    detail["last_replayed_at"] = (
        item.last_replayed_at.isoformat() if item.last_replayed_at else None
    )
    return detail


@app.command(epilog=READS)
def replay(
    types: list[str] = TYPE,
    groups: list[str] = GROUP,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    error: str | None = ERROR,
    statuses: list[str] = STATUS,
    ids: list[int] = IDS,
    limit: int | None = typer.Option(None, help="At most this many letters."),
    as_json: bool = JSON_OUT,
) -> None:
    """Send matching dead letters (status 'dead' unless --status) back to their group's worker."""
    with _errors():
        f = _filter(types, groups, since, until, error, statuses, ids, limit=limit)
    settings = _settings()

    async def work(store: DeadLetterStore) -> Any:
        from ..dlq.replay import replayable

        total = await store.count(replayable(f))
        if limit is not None:
            total = min(total, limit)
        with _progress() as bar:
            task = bar.add_task("replaying", total=total)
            return await replay_dead_letters(
                store, f, settings, on_progress=lambda n: bar.advance(task, n)
            )

    result = _run(work)
    # Letters the filter names but a replay leaves alone (already replayed, or purged).
    passed_over = 0
    if not statuses and limit is None:
        matching = _run(lambda store: store.count(replace(f, statuses=tuple(Status))))
        passed_over = max(0, matching - result.replayed - result.skipped)
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "replayed": result.replayed,
                    "skipped": result.skipped,
                    "not_dead": passed_over,
                }
            )
        )
        return
    out.print(f"replayed {result.replayed} dead letter(s)")
    if passed_over:
        err.print(
            f"{passed_over} matching letter(s) are already replayed or purged and were left "
            "alone: add --status replayed to send replayed ones again (purged ones have no bytes)"
        )


@app.command(epilog=READS)
def purge(
    types: list[str] = TYPE,
    groups: list[str] = GROUP,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    error: str | None = ERROR,
    statuses: list[str] = STATUS,
    ids: list[int] = IDS,
    everything: bool = typer.Option(False, "--all", help="Allow an empty filter."),
    hard: bool = typer.Option(False, "--hard", help="Delete rows instead of marking 'purged'."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Really purge (else: count only)."),
) -> None:
    """Purge matching dead letters: their bytes are dropped (rows deleted with --hard).

    Without --yes nothing is purged: it prints how many match and exits with code 2."""
    with _errors():
        f = _filter(types, groups, since, until, error, statuses, ids)
        if f.is_empty and not everything:
            raise DeadLetterError("no filter given: add one, or --all to purge every letter")
    if not yes:
        count = _run(lambda store: store.count(f))
        err.print(f"{count} dead letter(s) match; nothing purged. Add --yes to purge them.")
        raise typer.Exit(2)
    count = _run(lambda store: store.purge(f, hard=hard))
    out.print(f"purged {count} dead letter(s)")


@app.command(epilog=READS)
def ingest(log_json: bool = typer.Option(False, "--log-json", help="JSON log lines.")) -> None:
    """Consume every bizevents.dlq.* topic into the store until SIGINT/SIGTERM."""
    settings = _settings()

    async def work(store: DeadLetterStore) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await DeadLetterIngester(store, settings).run(stop)

    _run(work, log_level=settings.log_level, log_json=log_json)


def replay_group(
    group: str = typer.Option(
        ..., "--group", "-g", metavar="GROUP", help="The subscriber group to re-run."
    ),
    start: str = typer.Option(
        ..., "--from", help="ISO 8601 time, 90m / 2h / 1d ago, or an offset (every partition)."
    ),
    types: list[str] = TYPE,
    topics: list[str] = typer.Option(
        [], "--topic", help="Event topic (repeatable); default: the group's committed topics."
    ),
) -> None:
    """Re-process one group's history: matching records are copied to the group's replay topic,
    which its running worker consumes (no need to stop the group)."""
    settings = _settings()
    _quiet_logs(settings)
    with _errors():
        begin = parse_start(start)

        async def main() -> Any:
            with _progress() as bar:
                task = bar.add_task(f"replaying {group}", total=None)
                return await replay_history(
                    settings,
                    group,
                    begin,
                    topics=topics,
                    types=types,
                    on_total=lambda n: bar.update(task, total=n),
                    on_progress=lambda n: bar.advance(task, n),
                )

        result = asyncio.run(main())
    out.print(
        f"scanned {result.scanned} record(s) on {', '.join(result.topics)}; "
        f"copied {result.copied} to the replay topic of {group}"
    )
