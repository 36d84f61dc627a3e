from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.events import EventBus
from agent.store import DatasetStore, StoreManager


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def manager(tmp_path: Path, bus: EventBus) -> AsyncIterator[StoreManager]:
    mgr = StoreManager(tmp_path, bus=bus, language="en")
    await mgr.open(["cty-abc"])
    yield mgr
    await mgr.close()


@pytest.fixture
def store(manager: StoreManager) -> DatasetStore:
    return manager.get("cty-abc")
