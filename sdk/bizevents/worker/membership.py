"""Static group membership (Kafka's `group.instance.id`, KIP-345): which id, if any (pure logic).

A member with a static id that restarts within the session timeout takes its partitions back
at once, without a rebalance; without one, a restarted worker first waits until the broker has
timed out its previous self (the session timeout) before anything is handled again. The flip
side: a static member that is stopped, or gone for good, keeps its partitions (unconsumed) until
the session timeout expires, because it does not leave the group when it stops.

So the id must be stable across restarts of the same member and unique among live members:
- `BIZEVENTS_GROUP_INSTANCE_ID`, when set, is used as it is;
- in a Kubernetes pod (`KUBERNETES_SERVICE_HOST` is set there by the kubelet) whose name ends in
  an ordinal, as StatefulSet pods do (`billing-worker-0`), the pod name (`HOSTNAME`);
- otherwise none. A Deployment's pods get new random names on every rollout: a static id would
  only leave the old pods' partitions idle until their session timed out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_STATEFULSET_POD = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?-(0|[1-9][0-9]*)$")
OFF = "off"


def group_instance_id(configured: str, environ: Mapping[str, str]) -> str | None:
    """The static member id to use: `configured` (the setting), or the StatefulSet pod name,
    or None. `configured == "off"` disables static membership."""
    if configured == OFF:
        return None
    if configured:
        return configured
    hostname = environ.get("HOSTNAME", "")
    if environ.get("KUBERNETES_SERVICE_HOST") and _STATEFULSET_POD.match(hostname):
        return hostname
    return None


def for_process(instance_id: str | None, index: int | None) -> str | None:
    """The id of process `index` of a `--processes N` worker: one static member per process."""
    if instance_id is None or index is None:
        return instance_id
    return f"{instance_id}-p{index}"
