"""What the APIs (LAN, control, CLI) may ask of the sync side, as a small interface.

``app.py`` puts one implementation in ``app[keys.SYNC]``: the real engine when a cloud URL is
configured, :class:`agent.sync.standalone.StandaloneSync` otherwise. The APIs only see this.
"""

from __future__ import annotations

from typing import Any, Protocol

from protocol.connectivity import Connectivity


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
        """Wake the push and pull loops of one dataset (or all) now."""
        ...

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        """``{"last_push_at": iso|None, "last_pull_at": iso|None}`` for one dataset."""
        ...
