"""The short chaos run: 10k events and 20 faults, checked by the independent checker.

Every kind of fault happens in it; process kills are weighted above Kafka and PostgreSQL crashes,
whose restarts take most of the run's time. The long run is the same scenario with more of
everything: `python -m tests.chaos --events 100000 --faults 200`.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from .scenario import Options, run

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.chaos,
    pytest.mark.skipif(
        os.environ.get("BIZEVENTS_CHAOS") != "1",
        reason="the chaos run needs BIZEVENTS_CHAOS=1",
    ),
]

# One Kafka kill and one PostgreSQL crash for sure, then a weighted draw.
SHORT = Options(
    events=10_000,
    faults=20,
    fault_every=2.5,
    seed=3,
    first=("kafka", "postgres", "worker_term", "broker"),
    kinds=("relay", "relay", "worker", "worker", "worker_term", "broker", "broker", "kafka",
           "postgres"),
)  # fmt: skip


@pytest.mark.timeout(900)
def test_short_chaos_run_loses_nothing_and_keeps_order() -> None:
    # Its own event loop: on a timeout, asyncio.run cancels the run, whose clean-up stops the
    # private Kafka and PostgreSQL (an abandoned pytest loop would leave them running).
    outcome = asyncio.run(run(SHORT))
    r = outcome.report
    print(f"\nchaos: {outcome.seconds:.0f} s, faults {outcome.faults}, {r.rows()}")
    assert sum(outcome.faults.values()) == 20
    assert set(outcome.faults) == {"relay", "worker", "worker_term", "broker", "kafka", "postgres"}
    assert r.committed >= 10_000
    assert r.lost == 0, r.examples
    assert r.rolled_back_published == 0
    assert r.order_violations_kafka == 0, r.examples
    for grp in ("inbox", "plain"):
        assert r.effects[grp]["missing"] == 0, (grp, r.effects)
        assert r.effects[grp]["order_violations"] == 0, (grp, r.examples)
    assert r.effects["inbox"]["duplicated"] == 0
    assert outcome.gateway_refused == []
