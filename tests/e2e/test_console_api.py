"""The dashboard console's LAN routes against a real hub and two real nodes: the Work-online
switch (``PUT /api/v1/online``, the tray's toggle) and a record's history naming the office
and the workstation behind each version — offline, the node's own copy and why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient

from .hub_procs import HubProcess, hub_with
from .test_sync_e2e import DS, Office, status, two_offices, wait_online, workstation

pytestmark = pytest.mark.e2e


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS)


@pytest.fixture
def offices(tmp_path: Path, hub: HubProcess) -> Iterator[tuple[Office, Office]]:
    yield from two_offices(tmp_path, hub)


async def history(ws: WorkstationClient, collection: str, id: str) -> dict[str, Any]:
    _, body, _ = await ws._call("GET", f"/datasets/{DS}/records/{collection}/{id}/history")
    return dict(body)


async def test_history_names_each_office_and_workstation(
    offices: tuple[Office, Office]
) -> None:
    a, b = offices
    ws_a = await workstation(a.node, "Kế toán A")
    ws_b = await workstation(b.node, "Thu ngân B")
    try:
        await wait_online(a.node)
        await wait_online(b.node)
        made = await ws_a.create(DS, "customers", {"code": "KH001", "name": "Công ty Mai"})
        cid = made.record.id

        async def at_b() -> bool:
            try:
                got = await ws_b.get(DS, "customers", cid)
            except Exception:
                return False
            return got.record.sync.state == "synced"

        await eventually(at_b, 30)
        got = await ws_b.get(DS, "customers", cid)
        await ws_b.update(DS, "customers", cid, {**got.record.data, "name": "Công ty Mai Lan",
                                                  "phone": "0901234567"}, got.etag)

        async def two_versions() -> bool:
            return len((await history(ws_a, "customers", cid))["versions"]) == 2

        await eventually(two_versions, 30)
        body = await history(ws_a, "customers", cid)
        assert body["source"] == "cloud" and body["message"] is None
        assert [(v["version"], v["node"], v["workstation"]) for v in body["versions"]] == [
            (1, "office-a", "Kế toán A"), (2, "office-b", "Thu ngân B")]
        assert body["versions"][1]["changed"] == ["name", "phone"]
        assert body["labels"]["name"]["vi"] and body["labels"]["name"]["en"]
        assert body["pending"] == []

        # Offline by choice, through the LAN switch: the node's copy, its queued change and why.
        _, state, _ = await ws_a._call("PUT", "/online", json={"online": False})
        assert state["online"] is False and state["connectivity"] == "offline_by_user"
        assert status(a.node)["online"] is False  # the same toggle as the tray's
        got = await ws_a.get(DS, "customers", cid)
        await eventually(lambda: _name_is(ws_a, cid, "Công ty Mai Lan"), 30)
        got = await ws_a.get(DS, "customers", cid)
        await ws_a.update(DS, "customers", cid, {**got.record.data, "name": "Mai Lan Co"},
                          got.etag)
        body = await history(ws_a, "customers", cid)
        assert body["source"] == "local"
        assert "offline" in body["message"]["en"] and "offline" in body["message"]["vi"]
        assert [p["workstation"] for p in body["pending"]] == ["Kế toán A"]
        assert body["versions"][0]["data"]["name"] == "Mai Lan Co"

        # A bad body changes nothing; then back online, it drains by itself.
        with pytest.raises(Exception, match=r"VALIDATION_FAILED.*Online must be true or false"):
            await ws_a._call("PUT", "/online", json={"online": "yes"})
        assert status(a.node)["online"] is False
        _, state, _ = await ws_a._call("PUT", "/online", json={"online": True})
        assert state["online"] is True
        await eventually(lambda: _versions_are(ws_a, cid, 3), 30)
        last = (await history(ws_a, "customers", cid))["versions"][-1]
        assert (last["node"], last["workstation"], last["changed"]) == (
            "office-a", "Kế toán A", ["name"])
    finally:
        await ws_a.close()
        await ws_b.close()


async def _name_is(ws: WorkstationClient, cid: str, name: str) -> bool:
    return bool((await ws.get(DS, "customers", cid)).record.data["name"] == name)


async def _versions_are(ws: WorkstationClient, cid: str, n: int) -> bool:
    return len((await history(ws, "customers", cid))["versions"]) == n
