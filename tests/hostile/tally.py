"""What the hostile corpus saw: examples per entry point and outcome (a status code, a SOAP
faultcode, a dead-letter reason), and the time each entry point took. The conftest prints it
at the end of the session; BIZEVENTS_HOSTILE_REPORT=path also writes it as JSON."""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import HealthCheck, settings

COUNTS: defaultdict[str, Counter[str]] = defaultdict(Counter)
SECONDS: defaultdict[str, float] = defaultdict(float)

DEFAULT_EXAMPLES = 150


def examples() -> int:
    """Examples per entry point: bounded in the default suite, BIZEVENTS_HOSTILE_EXAMPLES=1000
    for the long run."""
    return int(os.environ.get("BIZEVENTS_HOSTILE_EXAMPLES", DEFAULT_EXAMPLES))


def timeout() -> float:
    """pytest-timeout for one entry point: generous per example, for a loaded machine."""
    return 120 + 1.5 * examples()


def hostile_settings(max_examples: int | None = None) -> settings:
    """Reproducible (derandomized, no example database), no deadline: the server is real."""
    return settings(
        max_examples=max_examples or examples(),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def record(entry: str, outcome: str) -> None:
    COUNTS[entry][outcome] += 1


@contextmanager
def timed(entry: str) -> Iterator[None]:
    start = time.monotonic()
    try:
        yield
    finally:
        SECONDS[entry] += time.monotonic() - start


def summary_lines() -> list[str]:
    lines = []
    for entry in sorted(COUNTS):
        outcomes = COUNTS[entry]
        total = sum(outcomes.values())
        parts = ", ".join(f"{name}: {n}" for name, n in sorted(outcomes.items()))
        lines.append(f"{entry:<22} {total:>6} examples in {SECONDS[entry]:6.1f} s   {parts}")
    return lines


def write_report() -> None:
    path = os.environ.get("BIZEVENTS_HOSTILE_REPORT")
    if path and COUNTS:
        report = {
            entry: {"examples": sum(c.values()), "seconds": round(SECONDS[entry], 1),
                    "outcomes": dict(sorted(c.items()))}
            for entry, c in sorted(COUNTS.items())
        }  # fmt: skip
        Path(path).write_text(json.dumps(report, indent=2) + "\n")
