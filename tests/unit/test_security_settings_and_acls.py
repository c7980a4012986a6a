"""Kafka security settings and the ACL derivation (pure, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bizevents.contracts import load_contracts
from bizevents.errors import ConfigurationError
from bizevents.security.acls import (
    Acl,
    Operation,
    PatternType,
    ResourceType,
    derive,
    plan,
)
from bizevents.security.scram import salted_password
from bizevents.settings import ConnectionSettings

SECRET = "pw-unit-Zq8x1vLr"
EXAMPLE = Path(__file__).resolve().parents[2] / "contracts"


def test_sasl_options_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIZEVENTS_KAFKA_SASL_USERNAME", "orders")
    monkeypatch.setenv("BIZEVENTS_KAFKA_SASL_PASSWORD", SECRET)
    settings = ConnectionSettings()
    options = settings.kafka_client_options()
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "orders"
    assert options["sasl_plain_password"] == SECRET
    # The password never shows in the settings' text forms.
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


def test_plain_by_default() -> None:
    options = ConnectionSettings(kafka_sasl_username=None, kafka_sasl_password=None)
    assert options.kafka_client_options()["security_protocol"] == "PLAINTEXT"


def test_tls_with_a_ca_file(tmp_path: Path) -> None:
    # Python's own CA bundle stands in for a cluster's CA here.
    import ssl

    cafile = ssl.get_default_verify_paths().cafile or ssl.get_default_verify_paths().openssl_cafile
    settings = ConnectionSettings(
        kafka_sasl_username="orders", kafka_sasl_password=SECRET, kafka_ssl_cafile=cafile
    )
    options = settings.kafka_client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["ssl_context"].verify_mode is ssl.CERT_REQUIRED


@pytest.mark.parametrize(
    "env",
    [
        {"BIZEVENTS_KAFKA_SASL_PASSWORD": SECRET},
        {"BIZEVENTS_KAFKA_SASL_USERNAME": "orders"},
        {"BIZEVENTS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "BIZEVENTS_KAFKA_SASL_PASSWORD": SECRET},
    ],
)
def test_incomplete_settings_are_one_clear_error_without_the_secret(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as caught:
        ConnectionSettings()
    assert "BIZEVENTS_KAFKA_SASL_USERNAME" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_scram_salted_password_matches_rfc_7677_vector() -> None:
    # RFC 7677 (SCRAM-SHA-256): user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==.
    import base64
    import hashlib
    import hmac

    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    salted = salted_password("SCRAM-SHA-256", "pencil", salt, 4096)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    auth = (
        b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    assert base64.b64encode(proof) == b"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="


def test_acls_of_the_example_contracts() -> None:
    derived = derive(load_contracts(EXAMPLE))
    assert derived.apps == {"orders", "billing", "shipping"}

    def has(app: str, op: Operation, rtype: ResourceType, name: str, pattern: PatternType) -> bool:
        return Acl(f"User:{app}", rtype, name, pattern, op) in derived.acls

    topic, literal, prefixed = ResourceType.TOPIC, PatternType.LITERAL, PatternType.PREFIXED
    placed = "com.acme.orders.OrderPlaced.v1"
    assert has("orders", Operation.WRITE, topic, placed, literal)
    assert has("billing", Operation.READ, topic, placed, literal)
    assert has("shipping", Operation.READ, topic, placed, literal)
    assert not has("billing", Operation.WRITE, topic, placed, literal)
    assert not has("orders", Operation.READ, topic, placed, literal)
    # OrderCancelled goes to billing only.
    cancelled = "com.acme.orders.OrderCancelled.v1"
    assert has("billing", Operation.READ, topic, cancelled, literal)
    assert not has("shipping", Operation.READ, topic, cancelled, literal)
    # Groups and private topics under the app's own name only.
    assert has("billing", Operation.READ, ResourceType.GROUP, "billing", literal)
    assert has("billing", Operation.READ, ResourceType.GROUP, "billing.", prefixed)
    for op in (Operation.READ, Operation.WRITE, Operation.CREATE):
        assert has("billing", op, topic, "bizevents.retry.billing.", prefixed)
        assert has("billing", op, topic, "bizevents.dlq.billing", literal)
        assert has("billing", op, topic, "bizevents.replay.billing", literal)
    # Nothing broad: no wildcard, no cluster-wide right, no prefix without the app's name.
    for acl in derived.acls:
        app = acl.principal.removeprefix("User:")
        assert acl.resource_type in (ResourceType.TOPIC, ResourceType.GROUP)
        assert acl.resource_name != "*"
        if acl.pattern is prefixed:
            assert acl.resource_name.startswith((f"{app}.", f"bizevents.retry.{app}.",
                                                 f"bizevents.dlq.{app}.",
                                                 f"bizevents.replay.{app}."))  # fmt: skip


def test_plan_adds_the_missing_and_removes_only_what_is_ours() -> None:
    derived = derive(load_contracts(EXAMPLE))
    wanted = sorted(derived.acls)
    stale = Acl(
        "User:billing", ResourceType.TOPIC, "com.acme.x", PatternType.LITERAL, Operation.ALL
    )
    foreign = Acl("User:crm", ResourceType.TOPIC, "crm.leads", PatternType.LITERAL, Operation.READ)
    result = plan(derived, [*wanted[1:], stale, foreign])
    assert result.add == [wanted[0]]
    assert result.remove == [stale]  # crm is no app of these contracts and its topic is not ours
    assert plan(derived, [*wanted, foreign], ["User:crm"]).remove == [foreign]
    assert plan(derived, wanted).empty
