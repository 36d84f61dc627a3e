"""Typed keys of everything the node's aiohttp applications share (no string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from agent.app import NodeContext
    from agent.config import Config
    from agent.events import EventBus
    from agent.lan_api.pairing import Pairing
    from agent.store import StoreManager
    from agent.store.node import NodeDB
    from agent.sync.api import SyncControl

CONTEXT: web.AppKey[NodeContext] = web.AppKey("context")
CONFIG: web.AppKey[Config] = web.AppKey("config")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
STORES: web.AppKey[StoreManager] = web.AppKey("stores")
NODE_DB: web.AppKey[NodeDB] = web.AppKey("node_db")
SYNC: web.AppKey[SyncControl] = web.AppKey("sync")
PAIRING: web.AppKey[Pairing] = web.AppKey("pairing")
# Open WebSockets of one app, closed with 1001 "node shutting down" in on_shutdown.
WEBSOCKETS: web.AppKey[set[web.WebSocketResponse]] = web.AppKey("websockets")
# The control app: the local admin token, and the least time between two status pushes.
CONTROL_TOKEN: web.AppKey[str] = web.AppKey("control_token")
STATUS_INTERVAL: web.AppKey[float] = web.AppKey("status_interval")

# Per request: the authenticated workstation id (the message language: httpkit.request_lang).
WORKSTATION: web.RequestKey[str] = web.RequestKey("workstation")
