"""Choosing the sync side at start: the engine when this node is enrolled with a hub, the
standalone toggle otherwise (``not_configured``)."""

from __future__ import annotations

import logging
from typing import Any

from agent.cloud.client import HubClient
from agent.config import Config
from agent.events import EventBus
from agent.secrets import NodeSecrets
from agent.store import StoreManager
from agent.store.node import NodeDB
from agent.sync.api import ONLINE_SETTING, SyncControl
from agent.sync.engine import HUB_SETTING, SyncEngine
from agent.sync.standalone import StandaloneSync

log = logging.getLogger("officesync.sync")


async def hub_settings(node_db: NodeDB) -> dict[str, Any]:
    value = await node_db.get_setting(HUB_SETTING)
    return value if isinstance(value, dict) else {}


async def make_sync(
    config: Config, stores: StoreManager, node_db: NodeDB, bus: EventBus, *, start: bool = True
) -> SyncControl:
    """The sync side for ``config``; an engine is started unless ``start`` is false (then its
    owner starts it, e.g. :meth:`agent.lifecycle.LiveSync.replace` unless the node stops)."""
    online = bool(await node_db.get_setting(ONLINE_SETTING, True))
    hub = await hub_settings(node_db)
    url = config.cloud.url or hub.get("url")
    secret = NodeSecrets(config.data_dir).load() if hub.get("node_id") else None
    if not url or secret is None:
        if url:
            log.warning("cloud url is set but this node is not enrolled: run officesync enroll")
        return StandaloneSync(node_db, bus, online, hub_url_set=bool(url))
    token, _where = secret
    for store in stores.connected():
        store.local_numbering = False  # numbers come from blocks leased from the hub
    stores.local_numbering = False
    client = HubClient(url, token, timeout=max(10.0, config.cloud.probe_timeout_s * 3),
                       language=config.node.language)
    engine = SyncEngine(
        stores, node_db, bus, client, config.cloud, hub_node_id=str(hub["node_id"]), online=online)
    if start:
        await engine.start()
    return engine
