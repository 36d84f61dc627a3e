"""A node as a service lives (issue "Runs as a real service…"): SIGTERM in the middle of a
drain exits cleanly within 10 s and the queue resumes after restart; a changed config file is
applied live where it can be, refused when invalid, and what needs a restart is said so."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient, WorkstationError

from .hub_procs import HubProcess
from .procs import NO_KEYRING, NodeProcess, free_port, to_toml, write_node_config
from .test_sync_e2e import DS, Office, control, counts, wait_online, workstation

pytestmark = pytest.mark.e2e


def status(node: NodeProcess) -> dict[str, Any]:
    return dict(control(node, "GET", "/status"))


async def test_sigterm_mid_drain_exits_cleanly_and_the_queue_resumes(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db", free_port(), tmp_path / "logs",
                     env=NO_KEYRING)
    hub.create_dataset(DS)
    hub.start()
    office = Office(tmp_path, "office-a", hub, batch_size=5)
    node = office.node
    node.start()
    ws = await workstation(node, "ke-toan")
    events = WorkstationClient(node.lan_url, ws.token, language="en")
    try:
        await wait_online(node)
        control(node, "PUT", "/online", {"online": False})
        stream = events.events()
        pending_event = asyncio.ensure_future(stream.__anext__())
        for i in range(400):
            await ws.create(DS, "customers", {"code": f"T{i:04d}", "name": "x"})
        first = await asyncio.wait_for(pending_event, 10)  # the socket is open and delivering
        assert first["type"] == "record"
        control(node, "PUT", "/online", {"online": True})

        async def draining() -> bool:
            return 0 < counts(node)["synced"] < 400

        await eventually(draining, 30)
        assert node.proc is not None
        started = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        code = node.proc.wait(timeout=10)
        assert code == 0, node.logs()
        assert time.monotonic() - started < 10
        async def read_to_the_end() -> None:
            while True:  # the open WebSocket was closed by the node, with a reason
                await stream.__anext__()

        with pytest.raises(StopAsyncIteration):
            await read_to_the_end()
        node.start()

        async def drained() -> bool:
            return counts(node)["synced"] == 400

        await eventually(drained, 60)
    finally:
        await ws.close()
        await events.close()
        node.kill()
        hub.kill()


def _edit(config: Path, **changes: Any) -> None:
    """Rewrite the config atomically (write a temp file, then rename), as editors do."""
    import tomllib

    doc = tomllib.loads(config.read_text(encoding="utf-8"))
    for section, values in changes.items():
        if isinstance(values, dict):
            doc[section] = {**doc.get(section, {}), **values}
        else:
            doc[section] = values
    tmp = config.with_suffix(".tmp")
    tmp.write_text(to_toml(doc), encoding="utf-8")
    tmp.replace(config)


async def test_config_changes_apply_live_or_wait_for_restart(tmp_path: Path) -> None:
    config = write_node_config(tmp_path, name="office-live", datasets=["cty-abc"])
    node = NodeProcess(config, env=NO_KEYRING)
    node.start()
    token = node.control_token()
    node.control_token = lambda: token  # type: ignore[method-assign]  # config gets broken
    try:
        _edit(config, datasets=[{"id": "cty-abc"}, {"id": "cty-new"}])

        async def hosted() -> bool:
            datasets = status(node)["datasets"]
            return ([d["id"] for d in datasets] == ["cty-abc", "cty-new"]
                    and all(d["connected"] for d in datasets))

        await eventually(hosted, 15)

        config.write_text(config.read_text(encoding="utf-8") + "\n[lan\nbroken", "utf-8")

        async def refused() -> bool:
            return "config change refused" in node.logs(100_000)

        await eventually(refused, 15)
        assert [d["id"] for d in status(node)["datasets"]] == ["cty-abc", "cty-new"]
        assert "not valid TOML" in (status(node)["config_error"] or "")

        config.write_text(config.read_text(encoding="utf-8").replace("\n[lan\nbroken", ""),
                          "utf-8")
        _edit(config, lan={"port": free_port()}, node={"language": "en"})

        async def restart_noted() -> bool:
            shown = status(node)
            return shown.get("pending_restart") is not None and shown["config_error"] is None

        await eventually(restart_noted, 15)
        notice = status(node)["pending_restart"]
        assert "lan.port" in notice["en"] and "khởi động lại" in notice["vi"]
        stranger = WorkstationClient(node.lan_url)  # no token, no Accept-Language
        try:
            with pytest.raises(WorkstationError) as err:
                await stranger.datasets()
        finally:
            await stranger.close()
        # The node's language changed live: the message is now English.
        assert err.value.status == 401 and "Pair this device" in err.value.message
    finally:
        node.kill()
