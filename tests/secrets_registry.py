"""Secrets the test suite handed to its processes (SASL passwords, tokens, database passwords).

Fixtures record each one here; at the end of the session tests/conftest.py scans everything the
suite's processes logged (captured output of every test, log files registered here) for them.
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

KNOWN: set[str] = set()
LOG_FILES: set[Path] = set()


def remember_secret(value: str) -> str:
    if len(value) < 8:
        raise ValueError("test secrets must be long enough not to occur by chance")
    KNOWN.add(value)
    return value


def remember_log(path: Path) -> Path:
    """A file a process of the suite writes its log to (scanned at the end)."""
    LOG_FILES.add(path)
    return path


def leaks(text: str) -> list[str]:
    """The known secrets that occur in `text`, named by a hash prefix (the report must not
    leak them either)."""
    return [f"secret sha256:{sha256(s.encode()).hexdigest()[:12]}" for s in KNOWN if s in text]
