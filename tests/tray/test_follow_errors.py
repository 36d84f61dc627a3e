"""The tray keeps following a node whose control API answers with an error (it used to stop
following for good: the refusal escaped the reconnect loop)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.tray.fake_node import FakeNode, write_runtime
from tests.tray.test_controller import Sink, until
from tray.controller import TrayController
from tray.settings import TraySettings
from tray.viewmodel import DownReason, TrayState


class FailingStatus(FakeNode):
    """A node whose ``/status`` answers 500 while ``failing`` is set."""

    failing = True

    async def _status(self, request: web.Request) -> web.Response:
        if self.failing:
            self.calls.append(("GET", "/status", "500"))
            return web.json_response(
                {"error": {"code": "INTERNAL", "message": "Lỗi nội bộ", "details": {}}},
                status=500)
        return await super()._status(request)


async def test_a_refused_status_is_retried_until_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tray.controller.BACKOFF_CAP_S", 0.05)
    node = FailingStatus()
    server = TestServer(node.app(), host="127.0.0.1", port=0)
    await server.start_server()
    write_runtime(tmp_path, str(server.make_url("")), node.token)
    sink = Sink()
    controller = TrayController(TraySettings(tmp_path, "en", control_port=0), sink,
                                jitter=lambda: 0.0)
    task = asyncio.create_task(controller.run())
    try:
        await until(lambda: sum(c[2] == "500" for c in node.calls) >= 3, "three refusals")
        assert not task.done(), task.exception() if task.done() else None
        assert controller.status is None and controller.down is DownReason.NOT_RUNNING
        assert sink.view.state is TrayState.AGENT_DOWN
        node.failing = False
        await until(lambda: sink.views and sink.view.state is not TrayState.AGENT_DOWN,
                    "the status once the node answers")
        assert controller.status is not None and controller.status.is_online
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await server.close()
