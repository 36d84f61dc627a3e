"""The hub validates a batch off the writer thread: the writer (one thread on SQLite) only
looks up, plans and writes, so a second node's batch is validated while the first commits."""

from __future__ import annotations

import threading

import pytest

from hub import push as push_module
from hub import store as store_module
from tests.hub.helpers import Node, customer, new_id, op


async def test_validation_runs_off_the_writer_thread(node: Node,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = push_module.prepare_batch

    def recording(*args: object, **kwargs: object) -> push_module.Batch:
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "prepare_batch", recording)
    monkeypatch.setattr(push_module, "prepare_batch", recording)
    results = await node.push(op("create", "customers", new_id(), customer("KH900")),
                              op("create", "customers", new_id(), {"code": "", "name": "x"}))
    assert [r["status"] for r in results] == ["applied", "rejected"]
    assert threads and not any(name.startswith("hub-write") for name in threads), threads


async def test_a_refused_token_is_not_validated(node: Node,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(store_module, "prepare_batch", lambda ops: calls.append(len(ops)))
    response = await node.client.post(
        "/v1/datasets/cty-abc/push",
        json={"ops": [op("create", "customers", new_id(), customer("KH901"))]},
        headers={**node.headers(), "Authorization": "Bearer not-a-token"})
    assert response.status == 401
    assert calls == []
