"""Per-key scheduling and retry holds (pure logic, no I/O).

`KeyLanes`: one FIFO lane per key. Items of one key run one after another in arrival order;
different keys run concurrently. `claim` says whether the item may run now (the lane was idle);
when it has run, `next` gives the following item of the lane, until the lane is empty.

`Holds`: the keys that have messages parked in delayed-retry topics. Each parked message is a
token, ordered by where it first appeared (its original offset), with the retry-topic partition
it currently sits in. While a key has tokens, later messages of the key are routed behind the
head (into the head's retry topic) instead of running, and a parked message runs only when it is
the head. So per-key order survives non-blocking retries.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import deque
from collections.abc import Collection, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyLanes(Generic[T]):
    """The keys with a record queued or running, and the records waiting behind that one."""

    def __init__(self) -> None:
        self._lanes: dict[bytes, deque[T] | None] = {}  # None: nothing waiting behind

    def claim(self, key: bytes, item: T) -> bool:
        """True when the lane was idle: `item` may run now. Otherwise it waits its turn."""
        lanes = self._lanes
        if key not in lanes:
            lanes[key] = None
            return True
        waiting = lanes[key]
        if waiting is None:
            waiting = lanes[key] = deque()
        waiting.append(item)
        return False

    def peek(self, key: bytes) -> T | None:
        """The record waiting first behind the one running, if any (left in the lane)."""
        waiting = self._lanes.get(key)
        return waiting[0] if waiting else None

    def next(self, key: bytes) -> T | None:
        """The record that ran last is done: the next one of its lane (None: the lane closes)."""
        waiting = self._lanes.get(key)
        if waiting:
            return waiting.popleft()
        self._lanes.pop(key, None)
        return None

    @property
    def active(self) -> int:
        return len(self._lanes)

    @property
    def queued(self) -> int:
        return sum(len(lane) for lane in self._lanes.values() if lane)


Origin = tuple[str, int, int]
"""Where a message first appeared: (topic, partition, offset). Identifies a parked message."""

Location = tuple[str, int]
"""A retry-topic partition: (topic, partition)."""


@dataclass(order=True)
class Token:
    origin: Origin
    tier: float = field(compare=False)  # the retry delay it waits in (seconds)
    location: Location | None = field(compare=False, default=None)


class Holds:
    def __init__(self) -> None:
        self._keys: dict[bytes, list[Token]] = {}  # per key, ordered by origin
        # Each token by key and origin: a restart's warm-up parks tens of thousands of records,
        # a few dozen keys each holding hundreds; a scan of the key's list per record was
        # quadratic.
        self._tokens: dict[tuple[bytes, Origin], Token] = {}

    def held(self, key: bytes) -> bool:
        return key in self._keys

    def head(self, key: bytes) -> Token | None:
        tokens = self._keys.get(key)
        return tokens[0] if tokens else None

    def is_head(self, key: bytes, origin: Origin) -> bool:
        head = self.head(key)
        return head is None or head.origin == origin

    def park(self, key: bytes, origin: Origin, tier: float, location: Location | None) -> None:
        """Register (or move) a parked message: it sits in retry tier `tier`, at `location`."""
        token = self._tokens.get((key, origin))
        if token is not None:
            token.tier, token.location = tier, location
            return
        token = self._tokens[(key, origin)] = Token(origin, tier, location)
        # Ordered by origin: after a restart tokens come back in fetch order, not send order.
        insort(self._keys.setdefault(key, []), token)

    def release(self, key: bytes, origin: Origin) -> None:
        """The message reached a final outcome (done, skipped, dead-lettered)."""
        token = self._tokens.pop((key, origin), None)
        if token is None:
            return
        tokens = self._keys[key]
        del tokens[bisect_left(tokens, token)]  # origins are unique within a key
        if not tokens:
            del self._keys[key]

    def release_locations(self, locations: Collection[Location]) -> int:
        """Forget messages parked in partitions we no longer own (their new owner holds them)."""
        released = 0
        for key in list(self._keys):
            kept = []
            for token in self._keys[key]:
                if token.location in locations:
                    del self._tokens[(key, token.origin)]
                    released += 1
                else:
                    kept.append(token)
            if kept:
                self._keys[key] = kept
            else:
                del self._keys[key]
        return released

    def __len__(self) -> int:
        return len(self._tokens)


class Behind(Generic[T]):
    """Parked messages that came back from their retry topic before their key's head resolved.

    Sending such a message round the retry topic again costs a write per pass and, when the head
    resolves, up to a whole retry delay before the message comes back; a key held for long with
    many messages behind it turned into a storm of re-sends. So it waits here instead (its offset
    stays open) until it is its key's head, at most `limit` per partition (more go round again).
    Two copies of one message (a crash between a re-send and its commit) never wait together.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._keys: dict[bytes, dict[Origin, tuple[Hashable, T]]] = {}
        self._counts: dict[Hashable, int] = {}

    def __bool__(self) -> bool:
        return bool(self._keys)

    def count(self, partition: Hashable) -> int:
        return self._counts.get(partition, 0)

    def add(self, key: bytes, origin: Origin, partition: Hashable, item: T) -> bool:
        """Keep `item` here; False (not kept) when its partition is full or a copy waits."""
        count = self._counts.get(partition, 0)
        waiting = self._keys.setdefault(key, {})
        if count >= self.limit or origin in waiting:
            if not waiting:
                del self._keys[key]
            return False
        waiting[origin] = (partition, item)
        self._counts[partition] = count + 1
        return True

    def take(self, key: bytes, head: Origin | None) -> list[T]:
        """What of `key` may run now that `head` is its key's head: the message parked there and
        any earlier one (no longer held, e.g. its hold was dropped); with `head` None (the key
        is no longer held) every message of the key. In origin order."""
        waiting = self._keys.get(key)
        if not waiting:
            return []
        origins = sorted(o for o in waiting if head is None or o <= head)
        return [self._pop(key, waiting, o) for o in origins]

    def drop(self, partitions: Collection[Hashable] | None = None) -> list[T]:
        """Take out every message of `partitions` (all: None), in origin order."""
        dropped: list[tuple[Origin, T]] = []
        for key in list(self._keys):
            waiting = self._keys[key]
            for origin, (partition, _) in list(waiting.items()):
                if partitions is None or partition in partitions:
                    dropped.append((origin, self._pop(key, waiting, origin)))
        dropped.sort(key=lambda pair: pair[0])
        return [item for _, item in dropped]

    def held_keys(self) -> list[bytes]:
        return list(self._keys)

    def _pop(self, key: bytes, waiting: dict[Origin, tuple[Hashable, T]], origin: Origin) -> T:
        partition, item = waiting.pop(origin)
        if not waiting:
            del self._keys[key]
        self._counts[partition] -= 1
        if not self._counts[partition]:
            del self._counts[partition]
        return item

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._keys.values())
