"""The sync engine of a node with a hub: implements :class:`agent.sync.api.SyncControl`.

It owns the hub client, the connectivity monitor and one :class:`DatasetWorker` per hosted
dataset. Local writes wake the push loops; the "Làm việc online" toggle starts and stops all
hub traffic; turning it on opens a fresh HTTP session and probes at once (S7), after which the
queue drains and the feed catches up with no click (S2, S4).

Every background loop (monitor, push and pull per dataset, the write follower) runs under one
:class:`agent.supervisor.Supervisor`; once stopped, nothing (a late toggle, a dataset added
by a config reload) starts a loop again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from agent.cloud.client import HubClient
from agent.config import CloudSection
from agent.connectivity.monitor import ConnectivityMonitor
from agent.events import LOCAL_ACTIONS, EventBus, EventType, RecordEvent
from agent.store import StoreManager
from agent.store.node import NodeDB
from agent.supervisor import Supervised, Supervisor
from agent.sync.api import ONLINE_SETTING
from agent.sync.state import DatasetSyncState, ok_state
from agent.sync.worker import DatasetWorker
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError

log = logging.getLogger("officesync.sync")

HUB_SETTING = "hub"
FOLLOW_TASK = "sync-wakeups"


class SyncEngine:
    def __init__(
        self,
        stores: StoreManager,
        node_db: NodeDB,
        bus: EventBus,
        client: HubClient | None,
        cloud: CloudSection,
        *,
        hub_node_id: str,
        online: bool,
    ) -> None:
        """``cloud`` is the node's ``[cloud]`` section (probe interval and timeout, batch
        size, long poll, backoff cap); its ``url`` is the client's business, not read here."""
        self.stores = stores
        self.node_db = node_db
        self.bus = bus
        self.client = client
        self.cloud = cloud
        self.hub_node_id = hub_node_id
        self._online = online
        self.supervisor = Supervisor(cap=max(cloud.max_backoff_s, cloud.probe_interval_s),
                                     on_change=self._task_changed)
        self.monitor = ConnectivityMonitor(client, bus, online=online,
                                           probe_interval=cloud.probe_interval_s,
                                           probe_timeout=cloud.probe_timeout_s,
                                           supervisor=self.supervisor)
        self.workers: dict[str, DatasetWorker] = {}
        self._started = False
        self._stopped = False

    # -- SyncControl ------------------------------------------------------------------------

    @property
    def online(self) -> bool:
        return self._online

    @property
    def connectivity(self) -> Connectivity:
        return self.monitor.state

    async def set_online(self, online: bool) -> None:
        await self.node_db.set_setting(ONLINE_SETTING, online)
        changed = online != self._online
        self._online = online
        if self._stopped:
            return  # shutting down: the toggle is saved, no loop starts again
        if not online:
            self.monitor.set_toggle(False)
            await self._stop_workers()  # no hub traffic at all from here on
            if self.client is not None:
                await self.client.reset()
            return
        if changed or self.monitor.state is not Connectivity.ONLINE:
            if self.client is not None:
                await self.client.reset()  # a fresh connection, not a stale pooled one
            self.monitor.set_toggle(True)
            self._start_workers()

    async def sync_now(self, dataset_id: str | None = None) -> None:
        """Wake the loops now; ``OFFLINE_BY_USER`` (409) while the user chose offline."""
        if not self._online:
            raise ProtocolError(ErrorCode.OFFLINE_BY_USER)
        self.monitor.wake()
        for ds, worker in self.workers.items():
            if dataset_id is None or ds == dataset_id:
                worker.wake(manual=True)

    async def record_history(self, dataset_id: str, collection: str,
                             id: str) -> dict[str, Any]:
        if not self._online:
            raise ProtocolError(ErrorCode.OFFLINE_BY_USER)
        if self.client is None:
            raise ProtocolError(ErrorCode.NOT_CONFIGURED)
        return await self.client.record_history(dataset_id, collection, id)

    def dataset_state(self, dataset_id: str) -> DatasetSyncState:
        worker = self.workers.get(dataset_id)
        return worker.sync_state() if worker is not None else ok_state(dataset_id)

    def failing_tasks(self) -> list[dict[str, Any]]:
        return self.supervisor.failing()

    def _task_changed(self, supervised: Supervised) -> None:
        """A loop started or ended a failure streak: its dataset's state may have changed."""
        _loop, _, dataset_id = supervised.name.partition(":")
        worker = self.workers.get(dataset_id)
        if worker is not None:
            worker.refresh_state()

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        worker = self.workers.get(dataset_id)
        if worker is None:
            return {"last_push_at": None, "last_pull_at": None}
        return {"last_push_at": worker.last_push_at, "last_pull_at": worker.last_pull_at}

    # -- life -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.client is not None:
            for store in self.stores.connected():
                await self.add_dataset(store.dataset_id)
        if self._stopped:
            return
        self.monitor.start()
        self.supervisor.spawn(FOLLOW_TASK, self._follow_writes)
        self._started = True
        if self._online:
            self._start_workers()

    async def add_dataset(self, dataset_id: str) -> None:
        """Sync a dataset connected after the start (a config reload); no-op once stopped."""
        if self.client is None or dataset_id in self.workers or self._stopped:
            return
        worker = DatasetWorker(
            self.stores.get(dataset_id), self.client, self.monitor, self.bus,
            node_id=self.hub_node_id,
            batch_size=self.cloud.batch_size,
            long_poll=self.cloud.long_poll_s,
            max_backoff=self.cloud.max_backoff_s,
            supervisor=self.supervisor,
        )
        await worker.load()
        if self._stopped or dataset_id in self.workers:
            return
        self.workers[dataset_id] = worker
        if self._online and self._started:
            worker.start()

    async def remove_dataset(self, dataset_id: str) -> None:
        """Stop syncing a dataset that is being disconnected (a config reload)."""
        worker = self.workers.pop(dataset_id, None)
        if worker is not None:
            await worker.stop()

    def _start_workers(self) -> None:
        if self._stopped:
            return
        for worker in self.workers.values():
            worker.start()

    async def _stop_workers(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.workers.values()))

    async def _follow_writes(self) -> None:
        """Wake a dataset's push loop on each local write; when the subscription overflows
        (fell behind), wake everyone and follow again. Ends when the bus closes."""
        while not self._stopped:
            with self.bus.subscribe(maxsize=100_000, types={EventType.RECORD}) as sub:
                async for event in sub:
                    if isinstance(event, RecordEvent) and event.action in LOCAL_ACTIONS:
                        worker = self.workers.get(event.dataset)
                        if worker is not None:
                            worker.wake()
            if not sub.overflowed:
                return
            for worker in self.workers.values():
                worker.wake()

    async def stop(self) -> None:
        """Stop every loop and close the hub session; safe to call twice."""
        self._stopped = True
        await self._stop_workers()
        await self.supervisor.stop()
        if self.client is not None:
            await self.client.close()

    async def close(self) -> None:
        """:meth:`SyncControl.close`: the same as :meth:`stop`."""
        await self.stop()
