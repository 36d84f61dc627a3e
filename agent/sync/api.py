"""What the APIs (LAN, control, CLI) may ask of the sync side, as a small interface.

``app.py`` puts one implementation in ``app[keys.SYNC]``: the real engine when a cloud URL is
configured, :class:`agent.sync.standalone.StandaloneSync` otherwise. The APIs only see this.
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.sync.state import DatasetSyncState
from protocol.connectivity import Connectivity

# The node.db setting holding the "Làm việc online" toggle (default on), for every side.
ONLINE_SETTING = "online"


class SyncControl(Protocol):
    @property
    def online(self) -> bool:
        """The user's "Làm việc online" toggle (persisted)."""
        ...

    @property
    def connectivity(self) -> Connectivity: ...

    async def set_online(self, online: bool) -> None:
        """Flip the toggle; turning it on forces an immediate fresh reconnect."""
        ...

    async def sync_now(self, dataset_id: str | None = None) -> None:
        """Wake the push and pull loops of one dataset (or all) now. Raises a 409
        ``ProtocolError`` when nothing can sync: ``OFFLINE_BY_USER`` (the toggle is off),
        ``NOT_CONFIGURED`` (no hub) or ``NOT_ENROLLED`` (a hub URL but no enrollment)."""
        ...

    async def record_history(self, dataset_id: str, collection: str,
                             id: str) -> dict[str, Any]:
        """Ask the hub for every version of one record (office and workstation of each).
        Raises ``ProtocolError`` 409 like :meth:`sync_now` when there is no hub to ask (off by
        choice, none configured), or the hub client's ``HubError`` when it cannot answer."""
        ...

    def dataset_state(self, dataset_id: str) -> DatasetSyncState:
        """The dataset's sync state beside connectivity: ``ok``, ``refused`` (with the hub's
        code) or ``failing``; ``.as_json()`` is what the APIs show."""
        ...

    def failing_tasks(self) -> list[dict[str, Any]]:
        """Background sync tasks in a failure streak: ``[{"name","failures","error","since"}]``."""
        ...

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        """``{"last_push_at": iso|None, "last_pull_at": iso|None}`` for one dataset."""
        ...

    async def start(self) -> None:
        """Start the sync loops of a side built with ``start=False`` (see ``make_sync``)."""
        ...

    async def add_dataset(self, dataset_id: str) -> None:
        """Sync a dataset whose store was just connected (a config reload added it)."""
        ...

    async def remove_dataset(self, dataset_id: str) -> None:
        """Stop syncing a dataset before its store is disconnected (a config reload)."""
        ...

    async def close(self) -> None:
        """Stop every sync loop and release the hub session; safe to call twice."""
        ...
