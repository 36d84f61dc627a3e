"""Typed application keys of the hub's aiohttp app."""

from __future__ import annotations

from aiohttp import web

from hub.feed import FeedNotifier
from hub.store import HubStore

DB_URL = web.AppKey("db_url", str)
MIN_PROTOCOL = web.AppKey("min_protocol", int)
STORE = web.AppKey("store", HubStore)
NOTIFIER = web.AppKey("notifier", FeedNotifier)
