"""The sync side of a node with no cloud configured: only the "Làm việc online" toggle.

Connectivity is ``not_configured`` while the toggle is on and ``offline_by_user`` while it is
off; the toggle is persisted in node.db (setting ``online``, default on).
"""

from __future__ import annotations

from typing import Any

from agent.events import ConnectivityEvent, EventBus
from agent.store.node import NodeDB
from agent.sync.api import ONLINE_SETTING
from agent.sync.state import DatasetSyncState, ok_state
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode, ProtocolError


class StandaloneSync:
    """:class:`agent.sync.api.SyncControl` for a node that works without a hub."""

    def __init__(self, node_db: NodeDB, bus: EventBus, online: bool = True, *,
                 hub_url_set: bool = False) -> None:
        self._db = node_db
        self._bus = bus
        self._online = online
        self._hub_url_set = hub_url_set  # a cloud URL without enrollment

    @property
    def online(self) -> bool:
        return self._online

    @property
    def connectivity(self) -> Connectivity:
        return Connectivity.NOT_CONFIGURED if self._online else Connectivity.OFFLINE_BY_USER

    async def set_online(self, online: bool) -> None:
        await self._db.set_setting(ONLINE_SETTING, online)
        if online == self._online:
            return
        self._online = online
        self._bus.publish(ConnectivityEvent(connectivity=self.connectivity, online=online))

    async def sync_now(self, dataset_id: str | None = None) -> None:
        """Nothing to sync with: say why (409), as the user asked for a sync."""
        if not self._online:
            raise ProtocolError(ErrorCode.OFFLINE_BY_USER)
        raise ProtocolError(ErrorCode.NOT_ENROLLED if self._hub_url_set
                            else ErrorCode.NOT_CONFIGURED)

    async def record_history(self, dataset_id: str, collection: str,
                             id: str) -> dict[str, Any]:
        """No hub to ask: say why (409), as for a sync."""
        if not self._online:
            raise ProtocolError(ErrorCode.OFFLINE_BY_USER)
        raise ProtocolError(ErrorCode.NOT_ENROLLED if self._hub_url_set
                            else ErrorCode.NOT_CONFIGURED)

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        return {"last_push_at": None, "last_pull_at": None}

    def dataset_state(self, dataset_id: str) -> DatasetSyncState:
        return ok_state(dataset_id)

    def failing_tasks(self) -> list[dict[str, Any]]:
        return []

    # Without a hub there is no loop to start or stop: a dataset added or removed by a config
    # reload is served by its store alone, and closing has nothing to release.

    async def start(self) -> None:
        """No-op: there is no loop to start."""

    async def add_dataset(self, dataset_id: str) -> None:
        """No-op: a node without a hub runs no sync loop for any dataset."""

    async def remove_dataset(self, dataset_id: str) -> None:
        """No-op: no sync loop was started for the dataset."""

    async def close(self) -> None:
        """No-op: no loop, no hub session to release (the toggle is saved as it changes)."""
