"""The contracts as they were at a git ref (for `bizevents contracts check --against-git`).

`git archive` of the contracts folder at the ref, unpacked with tarfile's "data" filter (no
absolute paths, links out of the tree or device files), then loaded with the usual loader.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..errors import ConfigurationError
from .loader import load_contracts
from .model import ContractSet
from .yamlsafe import Limits

GIT_TIMEOUT = 60.0
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    except FileNotFoundError as exc:
        raise ConfigurationError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise ConfigurationError(f"git {args[0]} took longer than {GIT_TIMEOUT:.0f}s") from exc


def load_contracts_at_ref(
    path: Path, ref: str, *, limits: Limits | None = None
) -> ContractSet | None:
    """The contracts at `path` (a folder or file in a git checkout) as of `ref`; None when the
    path did not exist at that ref (everything is then new). Raises ContractError if they were
    invalid there, ConfigurationError if git fails."""
    path = path.resolve()
    folder = path if path.is_dir() else path.parent
    if ref.startswith("-"):
        raise ConfigurationError(f"invalid git ref {ref!r}")
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise ConfigurationError(f"{folder} is not inside a git checkout")
    root = Path(top.stdout.decode().strip()).resolve()
    rel = path.relative_to(root).as_posix()
    verify = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root)
    if verify.returncode != 0:
        raise ConfigurationError(f"unknown git ref {ref!r}")
    commit = verify.stdout.decode().strip()
    exists = _git(["cat-file", "-e", f"{commit}:{rel}"], root)
    if exists.returncode != 0:
        return None
    archive = _git(["archive", "--format=tar", commit, "--", rel], root)
    if archive.returncode != 0:
        raise ConfigurationError(f"git archive failed: {archive.stderr.decode(errors='replace')}")
    if len(archive.stdout) > MAX_ARCHIVE_BYTES:
        raise ConfigurationError(f"contracts at {ref} are larger than {MAX_ARCHIVE_BYTES} bytes")
    with tempfile.TemporaryDirectory(prefix="bizevents-contracts-") as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(tmp, filter="data")
        return load_contracts(Path(tmp) / rel, limits=limits)
