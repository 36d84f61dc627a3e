"""New record and op ids are time-ordered UUIDs (version 7): valid wherever an id is, and
in creation order, so they land at the right edge of the B-tree indexes."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

from agent.store import DatasetStore
from protocol.ids import new_id
from protocol.models import UUID_PATTERN


def test_new_ids_are_uuid7_in_time_order() -> None:
    ids = []
    for _ in range(5):
        ids.append(new_id())
        time.sleep(0.002)  # each in its own millisecond (the order within one is random)
    for made in ids:
        assert re.fullmatch(UUID_PATTERN, made)
        parsed = uuid.UUID(made)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert abs((parsed.int >> 80) - time.time() * 1000) < 60_000  # its time, in ms
    assert ids == sorted(ids)
    assert len({new_id() for _ in range(10_000)}) == 10_000


async def test_the_node_makes_v7_record_and_op_ids(store: DatasetStore) -> None:
    first = await store.create("customers", {"code": "KH1", "name": "Cửa hàng A"})
    await asyncio.sleep(0.002)  # the next millisecond: v7 ids of one millisecond are unordered
    second = await store.create("customers", {"code": "KH2", "name": "Cửa hàng B"})
    assert uuid.UUID(first.id).version == 7 and first.id < second.id
    batch, _ = await store.take_batch(10)
    assert [uuid.UUID(op.op_id).version for op in batch] == [7, 7]
    assert batch[0].op_id < batch[1].op_id
