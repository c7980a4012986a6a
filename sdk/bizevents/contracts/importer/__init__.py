"""`bizevents contracts import`: third-party AsyncAPI documents -> bizevents contracts.

    result = import_asyncapi(Path("streetlights.yml"), ImportOptions(service="streetlights"))
    Path("contracts/streetlights.yaml").write_text(result.text)

Why an import step rather than loading foreign documents directly: the result is a file in the
repository, reviewed once, where every guessed default is visible and can be corrected; the
compatibility gate, registry, codegen and docs then work on it unchanged, and the loader stays
strict (a typo in an extension is still an error). Re-running the import after the partner
changes their document and `bizevents contracts diff` show what changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ...errors import ContractError, Problem
from ..loader import load_contract_texts
from ..yamlsafe import Limits
from .build import Assumption, ImportOptions, build
from .read import read_messages
from .source import Source

__all__ = ["Assumption", "ImportOptions", "ImportResult", "import_asyncapi"]


@dataclass(frozen=True)
class ImportResult:
    service: str
    source_version: str  # the imported document's AsyncAPI version
    text: str  # the contract document (YAML), assumptions listed in a leading comment
    assumptions: tuple[Assumption, ...]
    skipped: tuple[Problem, ...]  # messages that could not be imported, with the reason
    events: tuple[str, ...]


def import_asyncapi(
    path: Path,
    options: ImportOptions | None = None,
    *,
    refs_root: Path | None = None,
    limits: Limits | None = None,
) -> ImportResult:
    """Read `path` (and the files its refs name under `refs_root`); raise ContractError with
    every problem when nothing can be imported."""
    options = options or ImportOptions()
    source = Source(path, refs_root, limits)
    version, items, problems = read_messages(source)
    if problems and not items:
        raise ContractError(f"cannot import {source.file}", problems)
    try:
        built = build(source.file, version, source.document, items, options)
    except ContractError as exc:
        raise ContractError(exc.summary, [*problems, *exc.problems]) from None
    skipped = [*problems, *built.skipped]
    text = render(built.document, source.file, version, built.assumptions, skipped)
    # Round trip: what we write must load as a contract (a failure here is our bug, not input).
    load_contract_texts({f"{built.service}.yaml": text})
    return ImportResult(
        built.service,
        version,
        text,
        tuple(built.assumptions),
        tuple(skipped),
        tuple(built.events),
    )


def render(
    document: dict[str, object],
    source_file: str,
    version: str,
    assumptions: list[Assumption],
    skipped: list[Problem],
) -> str:
    lines = [f"# Imported by `bizevents contracts import` from {source_file} (AsyncAPI {version})."]
    lines.append("# Assumptions made (review them; edit this file to change any):")
    lines += [f"#   - {a}" for a in assumptions]
    if skipped:
        lines.append("# Not imported:")
        lines += [f"#   - {p}" for p in skipped]
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n" + body
