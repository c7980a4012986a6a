"""Every Kafka client bizevents builds (SDK, CLI, broker) takes its connection options from the
settings (`client_options()` / `kafka_client_options()`), so BIZEVENTS_KAFKA_SASL_* and TLS
reach it: a client built from a bare `bootstrap_servers=` would connect without the login.

The behaviour is proven on the secured broker (test_gateway_sasl, test_secrets_scan); this
check keeps a new client from slipping past them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [ROOT / "sdk" / "bizevents", ROOT / "broker" / "bizevents_broker"]
CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "AIOKafkaClient"}
CLIENTS |= {"create_conn"}
OPTION_BUILDERS = {"client_options", "kafka_client_options"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _from_settings(call: ast.Call, assigned: dict[str, ast.expr]) -> bool:
    """Whether the call gets `**client_options(...)`, `**settings.kafka_client_options()` or
    `**options` where `options` holds one of these."""
    for keyword in call.keywords:
        if keyword.arg is None:
            value = keyword.value
            if isinstance(value, ast.Name) and value.id in assigned:
                value = assigned[value.id]
            for node in ast.walk(value):
                if isinstance(node, ast.Call) and _name(node.func) in OPTION_BUILDERS:
                    return True
    return False


def offenders() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted(package.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                assigned = {
                    target.id: node.value
                    for node in ast.walk(function)
                    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None
                    for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                    if isinstance(target, ast.Name)
                }
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Call)
                        and _name(node.func) in CLIENTS
                        and not _from_settings(node, assigned)
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return sorted(set(found))


def test_every_kafka_client_takes_the_settings_login() -> None:
    assert offenders() == []


def test_the_check_finds_a_client_without_the_login(tmp_path: Path) -> None:
    bad = ast.parse("async def f(b):\n    return AIOKafkaConsumer(bootstrap_servers=b)\n")
    call = next(n for n in ast.walk(bad) if isinstance(n, ast.Call))
    assert not _from_settings(call, {})
    good = ast.parse("def f(s):\n    o = client_options(s)\n    return AIOKafkaProducer(**o)\n")
    call = next(n for n in ast.walk(good) if isinstance(n, ast.Call) and _name(n.func) in CLIENTS)
    assert _from_settings(call, {"o": ast.parse("client_options(s)", mode="eval").body})
