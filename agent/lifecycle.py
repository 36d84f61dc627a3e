"""What a running node does beyond serving requests: tell systemd it is ready and alive,
advertise itself on the LAN, and apply a changed config file without a restart where it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from agent.config import Config
from agent.config_watch import ConfigDiff, diff_config
from agent.sync.api import SyncControl
from agent.sync.engine import SyncEngine
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
        self._retiring: set[SyncEngine] = set()  # replaced engines still stopping

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

    def timestamps(self, dataset_id: str) -> dict[str, Any]:
        return self.target.timestamps(dataset_id)

    def dataset_state(self, dataset_id: str) -> DatasetSyncState:
        return self.target.dataset_state(dataset_id)

    def failing_tasks(self) -> list[dict[str, Any]]:
        return self.target.failing_tasks()

    async def replace(self, target: SyncControl) -> None:
        """Swap in ``target`` (an engine not started yet): the old engine stops first, so
        two never sync at once; if the node is stopping, ``target`` never starts."""
        if self.closed:  # the node stopped while the new side was being built
            if isinstance(target, SyncEngine):
                await target.stop()
            return
        old, self.target = self.target, target
        if isinstance(old, SyncEngine):
            self._retiring.add(old)
            try:
                await old.stop()
            finally:
                self._retiring.discard(old)
        if isinstance(target, SyncEngine) and not self.closed:
            await target.start()

    async def close(self) -> None:
        """Stop the current engine and any replaced one whose stop was interrupted."""
        self.closed = True
        engines = [e for e in (self.target, *self._retiring) if isinstance(e, SyncEngine)]
        await asyncio.gather(*(engine.stop() for engine in engines))


async def apply_config(ctx: NodeContext, old: Config, new: Config) -> ConfigDiff:
    """Apply what can change live; log what waits for a restart (and keep it for status)."""
    diff = diff_config(old, new)
    new.source = old.source
    for section in ("node", "cloud", "log", "discovery", "inbox"):
        if any(key.startswith(section + ".") for key in diff.live):
            setattr(ctx.config, section, getattr(new, section))
    ctx.config.datasets = new.datasets
    if "log.level" in diff.live:
        logging.getLogger().setLevel(new.log.level)
    for dataset_id in diff.datasets_removed:
        if isinstance(ctx.sync, LiveSync) and isinstance(ctx.sync.target, SyncEngine):
            await ctx.sync.target.remove_dataset(dataset_id)
        await ctx.stores.disconnect(dataset_id)
    for dataset_id in diff.datasets_added:
        await ctx.stores.connect(dataset_id)
        if isinstance(ctx.sync, LiveSync) and isinstance(ctx.sync.target, SyncEngine):
            await ctx.sync.target.add_dataset(dataset_id)
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


async def close_quietly(resource: Any) -> None:
    with contextlib.suppress(Exception):
        await resource.stop()
