"""Runs the webhook subscriptions: one `Worker` (the ordinary worker, its own consumer group)
per subscription, started, restarted and stopped as subscriptions come, change and go."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..contracts import ContractSet
from ..logging import get_logger
from ..worker import RetryPolicy, Router, Worker, WorkerSettings
from .delivery import DeliveryError, WebhookTarget, deliverer, describe
from .targets import AddressPolicy, guarded_client

log = get_logger("bizevents.webhooks")


class WebhookSource(Protocol):
    async def targets(self) -> Sequence[WebhookTarget]:
        """The webhook subscriptions to deliver now (each one checked for permission)."""
        ...

    async def contracts(self) -> ContractSet: ...


@dataclass
class _Running:
    target: WebhookTarget
    worker: Worker


@dataclass(frozen=True)
class _App:
    """What `Worker` reads from an app: its router and contracts (no app name: the gateway
    checked the subscribing app's permission already, grants included)."""

    router: Router
    contracts: ContractSet
    app: None = None


class WebhookDispatcher:
    def __init__(
        self,
        source: WebhookSource,
        settings: WorkerSettings,
        *,
        policy: AddressPolicy,
        timeout: float = 10.0,
        refresh: float = 5.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.policy = policy
        self.refresh = refresh
        self.retry = retry or RetryPolicy()
        self.client = guarded_client(policy, timeout)
        self.running: dict[str, _Running] = {}
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()

    def changed(self) -> None:
        """Reconcile now (a subscription was created or deleted here)."""
        self._changed.set()

    async def run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    await self.reconcile()
                except Exception as exc:  # keep serving the ones that run; try again later
                    log.warning("webhooks.reconcile_failed", error=f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), self.refresh)
                self._changed.clear()
        finally:
            await self._stop_all()
            await self.client.aclose()

    def stop(self) -> None:
        self._stopping.set()
        self._changed.set()

    async def reconcile(self) -> None:
        wanted = {t.id: t for t in await self.source.targets()}
        for target_id in list(self.running):
            current = self.running[target_id]
            if wanted.get(target_id) != current.target:
                del self.running[target_id]
                await current.worker.stop()
                log.info("webhooks.stopped", webhook=target_id)
        contracts = None
        for target_id, target in wanted.items():
            if target_id in self.running:
                continue
            contracts = contracts or await self.source.contracts()
            worker = self._worker(target, contracts)
            await worker.start()
            self.running[target_id] = _Running(target, worker)
            log.info("webhooks.started", **describe(target))

    def _worker(self, target: WebhookTarget, contracts: ContractSet) -> Worker:
        router = Router()
        router.subscriber(
            *target.event_types,
            group=target.group,
            retry=self.retry,
            never_retry=(),
        )(deliverer(target, self.client))
        # The group's start offsets were committed when the subscription was created; with no
        # committed offset (e.g. a partition added later) a partition is read from its start.
        settings = self.settings.model_copy(
            update={"groups": [target.group], "auto_offset_reset": "earliest"}
        )
        return Worker(_App(router, contracts), settings)

    async def _stop_all(self) -> None:
        running, self.running = list(self.running.values()), {}
        await asyncio.gather(*(r.worker.stop() for r in running), return_exceptions=True)


__all__ = ["DeliveryError", "WebhookDispatcher", "WebhookSource", "WebhookTarget"]
