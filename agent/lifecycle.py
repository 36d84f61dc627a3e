"""What a running node does beyond serving requests: tell systemd it is ready and alive,
advertise itself on the LAN, and apply a changed config file without a restart where it can.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from agent.config import Config
from agent.config_watch import ConfigDiff, diff_config
from agent.sync.api import SyncControl
from agent.sync.factory import make_sync
from agent.sync.state import DatasetSyncState
from protocol.connectivity import Connectivity

if TYPE_CHECKING:
    from agent.app import NodeContext

log = logging.getLogger("officesync.node")


class LiveSync:
    """The :class:`SyncControl` the APIs hold: it forwards to the current sync side, which a
    config change (cloud URL, probe settings) may replace while the node runs. Once closed
    (the node is stopping), a replacement that arrives late is stopped at once."""

    def __init__(self, target: SyncControl) -> None:
        self.target = target
        self.closed = False
        self._retiring: set[SyncControl] = set()  # replaced sides still closing

    @property
    def online(self) -> bool:
        return self.target.online

    @property
    def connectivity(self) -> Connectivity:
        return self.target.connectivity

    async def set_online(self, online: bool) -> None:
        await self.target.set_online(online)

    async def sync_now(self, dataset_id: str | None = None) -> None:
        await self.target.sync_now(dataset_id)

    async def record_history(self, dataset_id: str, collection: str,
                             id: str) -> dict[str, Any]:
        return await self.target.record_history(dataset_id, collection, id)

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        return self.target.timestamps(dataset_id)

    def dataset_state(self, dataset_id: str) -> DatasetSyncState:
        return self.target.dataset_state(dataset_id)

    def failing_tasks(self) -> list[dict[str, Any]]:
        return self.target.failing_tasks()

    async def start(self) -> None:
        await self.target.start()

    async def add_dataset(self, dataset_id: str) -> None:
        await self.target.add_dataset(dataset_id)

    async def remove_dataset(self, dataset_id: str) -> None:
        await self.target.remove_dataset(dataset_id)

    async def replace(self, target: SyncControl) -> None:
        """Swap in ``target`` (a side not started yet): the old side closes first, so two
        never sync at once; if the node is stopping, ``target`` never starts."""
        if self.closed:  # the node stopped while the new side was being built
            await target.close()
            return
        old, self.target = self.target, target
        self._retiring.add(old)
        try:
            await old.close()
        finally:
            self._retiring.discard(old)
        if not self.closed:
            await target.start()

    async def close(self) -> None:
        """Close the current side and any replaced one whose close was interrupted."""
        self.closed = True
        await asyncio.gather(*(side.close() for side in (self.target, *self._retiring)))


async def apply_config(ctx: NodeContext, old: Config, new: Config) -> ConfigDiff:
    """Apply what can change live; log what waits for a restart (and keep it for status)."""
    diff = diff_config(old, new)
    new.source = old.source
    for section in ("node", "cloud", "log", "discovery", "inbox", "selfcheck"):
        if any(key.startswith(section + ".") for key in diff.live):
            setattr(ctx.config, section, getattr(new, section))
    ctx.config.datasets = new.datasets
    if "log.level" in diff.live:
        logging.getLogger().setLevel(new.log.level)
    for dataset_id in diff.datasets_removed:
        await ctx.sync.remove_dataset(dataset_id)
        await ctx.stores.disconnect(dataset_id)
    for dataset_id in diff.datasets_added:
        await ctx.stores.connect(dataset_id)
        await ctx.sync.add_dataset(dataset_id)
    if (any(key.startswith("cloud.") for key in diff.live) and isinstance(ctx.sync, LiveSync)
            and not ctx.sync.closed):
        await ctx.sync.replace(
            await make_sync(ctx.config, ctx.stores, ctx.node_db, ctx.bus, start=False))
    if diff.live:
        log.info("config reloaded; applied live: %s", ", ".join(diff.live))
    if diff.needs_restart:
        log.warning("config changes wait for a restart: %s", ", ".join(diff.restart))
    ctx.pending_restart = diff.messages() or None
    return diff
