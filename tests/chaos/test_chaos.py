"""The short chaos run: about 3k events and a dozen faults, checked by the independent checker.

The long run is the same scenario with more of both: `python -m tests.chaos --events 100000
--faults 200`.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from .scenario import Options, run

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    # Minutes of Kafka and PostgreSQL restarts: asked for explicitly.
    pytest.mark.skipif(
        not os.environ.get("BIZEVENTS_CHAOS"), reason="the chaos run needs BIZEVENTS_CHAOS=1"
    ),
]


@pytest.mark.timeout(900)
def test_short_chaos_run_loses_nothing_and_keeps_order() -> None:
    # Its own event loop: on a timeout, asyncio.run cancels the run, whose clean-up stops the
    # private Kafka and PostgreSQL (an abandoned pytest loop would leave them running).
    outcome = asyncio.run(run(Options(events=3_000, faults=12, fault_every=4.0, seed=3)))
    r = outcome.report
    assert sum(outcome.faults.values()) == 12
    assert r.committed >= 3_000
    assert r.lost == 0, r.examples
    assert r.rolled_back_published == 0
    assert r.order_violations_kafka == 0, r.examples
    for grp in ("inbox", "plain"):
        assert r.effects[grp]["missing"] == 0, (grp, r.effects)
        assert r.effects[grp]["order_violations"] == 0, (grp, r.examples)
    assert r.effects["inbox"]["duplicated"] == 0
    assert outcome.gateway_refused == []
