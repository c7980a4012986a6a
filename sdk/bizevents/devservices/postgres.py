"""A local PostgreSQL cluster on 127.0.0.1, run with the machine's server binaries.

Debian's package (PostgreSQL 15 on bookworm) provides initdb/pg_ctl. PostgreSQL refuses to run as
root, so when we are root the cluster belongs to an unprivileged OS user (postgres) and its commands
run as that user; nothing changes permissions on folders we do not own.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError, ServiceError
from ..settings import DevSettings
from . import process

HOST = "127.0.0.1"


@dataclass
class PostgresStatus:
    running: bool
    pid: int | None
    url: str
    version: str
    data_dir: Path


class PostgresServer:
    def __init__(self, settings: DevSettings) -> None:
        self.settings = settings
        self.bin_dir = self._find_bin_dir()
        self.os_user = self._os_user()
        self.home = self._home()
        self.data = self.home / "data"
        self.log_file = self.home / "postgres.log"

    @property
    def url(self) -> str:
        s = self.settings
        return f"postgresql://{s.pg_user}@{HOST}:{s.pg_port}/{s.pg_database}"

    # -- discovery --------------------------------------------------------------------------
    def _find_bin_dir(self) -> Path:
        if self.settings.pg_bin_dir:
            return self.settings.pg_bin_dir
        versions = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        if versions:
            return versions[-1].parent
        found = shutil.which("pg_ctl")
        if found:
            return Path(found).resolve().parent
        raise ConfigurationError(
            "PostgreSQL server binaries not found: install Debian's 'postgresql' package "
            "or set BIZEVENTS_PG_BIN_DIR"
        )

    def _os_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(self.settings.pg_os_user)
        except KeyError as exc:
            raise ConfigurationError(
                f"running as root needs an unprivileged OS user {self.settings.pg_os_user!r} "
                "for PostgreSQL (Debian's postgresql package creates it)"
            ) from exc

    def _home(self) -> Path:
        wanted = self.settings.state / "pg"
        if self.os_user is None or _reachable_by(wanted.parent, self.os_user):
            return wanted
        # A checkout in a private folder (e.g. mktemp -d, mode 700) cannot be entered by the
        # postgres user: keep the cluster in a folder named after the checkout instead.
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"bizevents-pg-{digest}"

    def version(self) -> str:
        out = subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r"(\d+(?:\.\d+)?)", out)
        return match.group(1) if match else "unknown"

    # -- commands ---------------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.os_user is not None:
            kwargs = {
                "user": self.os_user.pw_uid,
                "group": self.os_user.pw_gid,
                "extra_groups": [],
                "env": {**os.environ, "HOME": self.os_user.pw_dir},
            }
        result = subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            cwd="/",
            **kwargs,
        )
        if check and result.returncode != 0:
            raise ServiceError(
                f"{Path(args[0]).name} failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}{result.stderr[-2000:]}\n"
                f"{process.tail(self.log_file, 20)}"
            )
        return result

    def _prepare_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            os.chown(self.home, self.os_user.pw_uid, self.os_user.pw_gid)
        self.home.chmod(0o700)

    def running_pid(self) -> int | None:
        pid = process.read_pid(self.data / "postmaster.pid")
        return pid if pid is not None and process.alive(pid) else None

    def start(self) -> None:
        """Idempotent: initialises the cluster once, starts it, creates the database."""
        self._prepare_home()
        if not (self.data / "PG_VERSION").exists():
            self._run(
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.settings.pg_user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
            )
        if self.running_pid() is None:
            if not process.port_free(HOST, self.settings.pg_port):
                raise ServiceError(
                    f"PostgreSQL needs port {self.settings.pg_port} on {HOST} but another "
                    "process holds it; set BIZEVENTS_PG_PORT to a free port"
                )
            opts = (
                f"-c listen_addresses={HOST} -p {self.settings.pg_port} "
                f"-c unix_socket_directories={self.data} -c max_connections=300"
            )
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log_file),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            )
        asyncio.run(self._ensure_database())

    async def _ensure_database(self) -> None:
        import asyncpg

        s = self.settings
        conn = await asyncpg.connect(
            host=HOST, port=s.pg_port, user=s.pg_user, database="postgres", timeout=10
        )
        try:
            exists = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname=$1", s.pg_database
            )
            if not exists:
                await conn.execute(f'CREATE DATABASE "{s.pg_database}"')
        finally:
            await conn.close()

    def ready(self) -> bool:
        return self.running_pid() is not None and asyncio.run(_connect_ok(self.url))

    def wipe(self) -> None:
        """Delete the cluster (all databases). Stop it first."""
        shutil.rmtree(self.data, ignore_errors=True)

    def stop(self) -> None:
        if self.running_pid() is not None:
            self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
                check=False,
            )
        pid = self.running_pid()
        if pid is not None:
            process.terminate(pid, timeout=10)

    def status(self) -> PostgresStatus:
        pid = self.running_pid()
        return PostgresStatus(
            running=pid is not None and self.ready(),
            pid=pid,
            url=self.url,
            version=self.version(),
            data_dir=self.data,
        )


def _reachable_by(folder: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` can enter every folder from / down to `folder` (and write the last)."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    for part in (existing, *existing.parents):
        st = part.stat()
        if st.st_uid == user.pw_uid:
            mode_ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == user.pw_gid:
            mode_ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            mode_ok = bool(st.st_mode & stat.S_IXOTH)
        if not mode_ok:
            return False
    return True


async def _connect_ok(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception:
        return False
    await conn.close()
    return True
