"""The short chaos run: 10k events and 20 faults, checked by the independent checker.

It runs in the test suite by default (marker `chaos`; `-m 'not chaos'` leaves it out). Every kind
of fault happens in it, each at least once. Kafka is killed exactly once: its restart after
kill -9 (log recovery, a new JVM) takes 30-40 s on a busy 2-core machine, and a second or third
kill adds as much again (with three, a run took 5.3 min at load 3-4; with one, 4.7 min at 4-5).
The other kinds are drawn at random, relay and worker kills weighted above the rest (a broker
restart takes about 13 s, during which the HTTP writers wait). The long run
is the same scenario with more of everything, Kafka kills included:
`python -m tests.chaos --events 100000 --faults 200`.
"""

from __future__ import annotations

import asyncio

import pytest

from .scenario import Options, run

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.chaos]

KINDS = ("relay", "worker", "worker_term", "broker", "kafka", "postgres")
# One fault of every kind first (Kafka only there), then a weighted draw of the others.
SHORT = Options(
    events=10_000,
    faults=20,
    fault_every=2.0,
    seed=3,
    first=("kafka", "postgres", "worker_term", "broker", "worker", "relay"),
    kinds=("relay", "relay", "worker", "worker", "worker_term", "broker", "postgres"),
)


@pytest.mark.timeout(900)  # about 3-5 min; the rest is for a machine under heavy load
def test_short_chaos_run_loses_nothing_and_keeps_order() -> None:
    # Its own event loop: on a timeout, asyncio.run cancels the run, whose clean-up stops the
    # private Kafka and PostgreSQL (an abandoned pytest loop would leave them running).
    outcome = asyncio.run(run(SHORT))
    r = outcome.report
    print(f"\nchaos: {outcome.seconds:.0f} s, faults {outcome.faults}, {r.rows()}")
    assert sum(outcome.faults.values()) == 20
    assert set(outcome.faults) == set(KINDS)
    assert outcome.faults["kafka"] == 1
    assert r.committed >= 10_000
    assert r.lost == 0, r.examples
    assert r.rolled_back_published == 0
    assert r.order_violations_kafka == 0, r.examples
    for grp in ("inbox", "plain"):
        assert r.effects[grp]["missing"] == 0, (grp, r.effects)
        assert r.effects[grp]["order_violations"] == 0, (grp, r.examples)
    assert r.effects["inbox"]["duplicated"] == 0
    assert outcome.gateway_refused == []
