"""`bizevents worker app.module:events`: run an app's subscribers."""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import typer

from ..errors import BizEventsError, ConfigurationError
from ..logging import configure_logging


def load_object(spec: str) -> Any:
    """Import `package.module:attribute` (the current directory is importable, like uvicorn)."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigurationError(f"{spec!r}: expected 'module:attribute', e.g. billing.app:events")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ConfigurationError(f"{module_name!r} has no attribute {attribute!r}") from exc
    return obj


def worker(
    target: str = typer.Argument(..., help="The app's Events object, as module:attribute"),
    group: list[str] = typer.Option(
        [], "--group", "-g", metavar="GROUP", help="Only these groups (repeatable)"
    ),
    concurrency: int | None = typer.Option(None, help="Handlers running at once"),
    processes: int = typer.Option(
        1, "--processes", "-p", min=1, help="Worker processes of the same groups (one core each)"
    ),
    log_json: bool = typer.Option(False, "--log-json", help="JSON log lines."),
    log_level: str | None = typer.Option(None, "--log-level", help="DEBUG, INFO, WARNING..."),
) -> None:
    """Consume and handle events for the app's subscriber groups until SIGTERM/SIGINT."""
    from ..worker import Worker, WorkerSettings

    overrides: dict[str, Any] = {}
    if group:
        overrides["groups"] = group
    if concurrency is not None:
        overrides["concurrency"] = concurrency
    if log_json:
        overrides["log_json"] = True
    if log_level is not None:
        overrides["log_level"] = log_level
    try:
        settings = WorkerSettings(**overrides)
        configure_logging(settings.log_level, settings.log_json, settings.library_log_level)
        events = load_object(target)
        if processes > 1:
            from ..worker.processes import run_processes

            Worker(events, settings)  # the same checks as each child: fail once, here
            # The children read their logging choice from the environment, like every setting.
            env = {
                **os.environ,
                "BIZEVENTS_LOG_JSON": "true" if settings.log_json else "false",
                "BIZEVENTS_LOG_LEVEL": settings.log_level,
            }
            status = run_processes(
                target, group, concurrency, processes, settings.shutdown_timeout + 30, env
            )
            raise typer.Exit(status)
        asyncio.run(Worker(events, settings).run())
    except BizEventsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        pass
