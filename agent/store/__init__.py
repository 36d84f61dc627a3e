"""The node's local store: one SQLite file per dataset, one writer each, numbered migrations.

``store`` never imports aiohttp; the APIs and the sync engine sit above it.
"""

from agent.store.dataset import DatasetStore
from agent.store.manager import StoreManager

__all__ = ["DatasetStore", "StoreManager"]
