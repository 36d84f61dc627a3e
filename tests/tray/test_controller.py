"""The controller follows a (fake) node, survives its restarts, and runs menu actions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from httpkit.control_client import ControlError, ControlFailure
from protocol.backoff import Backoff
from tests.tray.fake_node import FakeNode, write_runtime
from tests.tray.helpers import status_doc
from tray.controller import BACKOFF_BASE_S, BACKOFF_CAP_S, TrayController
from tray.notes import NoteKind, Notification
from tray.settings import TraySettings
from tray.viewmodel import MenuAction, TrayState, TrayView


class Sink:
    def __init__(self) -> None:
        self.views: list[TrayView] = []
        self.notes: list[Notification] = []

    def show(self, view: TrayView) -> None:
        self.views.append(view)

    def notify(self, note: Notification) -> None:
        self.notes.append(note)

    @property
    def view(self) -> TrayView:
        return self.views[-1]


async def until(check: Callable[[], object], what: str, within: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class Rig:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.node = FakeNode()
        self.server: TestServer | None = None
        self.sink = Sink()
        self.opened: list[str] = []
        self.controller = TrayController(
            TraySettings(data_dir, "en", control_port=0), self.sink,
            jitter=lambda: 0.0, opener=self.opened.append,
        )

    async def start_node(self, token: str = "secret") -> None:
        self.node.token = token
        self.server = TestServer(self.node.app(), host="127.0.0.1", port=0)
        await self.server.start_server()
        write_runtime(self.data_dir, str(self.server.make_url("")), token)

    async def stop_node(self) -> None:
        assert self.server is not None
        await self.server.close()

    def state(self) -> TrayState:
        return self.sink.view.state


@pytest.fixture
async def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    monkeypatch.setattr("tray.controller.BACKOFF_CAP_S", 0.05)
    rig = Rig(tmp_path / "data")
    task = asyncio.create_task(rig.controller.run())
    yield rig
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if rig.server is not None:
        await rig.server.close()


def test_backoff_is_capped_and_jittered() -> None:
    backoff_delay = Backoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S).delay
    delays = [backoff_delay(n, 0.999) for n in range(40)]
    assert delays == sorted(delays)
    assert max(delays) <= BACKOFF_CAP_S
    assert delays[-1] == pytest.approx(BACKOFF_CAP_S, rel=0.01)
    assert backoff_delay(0, 0.0) == pytest.approx(BACKOFF_BASE_S / 2)
    assert backoff_delay(100, 0.0) == pytest.approx(BACKOFF_CAP_S / 2)


async def test_shows_agent_down_until_the_node_starts_then_follows_it(rig: Rig) -> None:
    await until(lambda: rig.sink.views, "a first view")
    assert rig.state() is TrayState.AGENT_DOWN
    await rig.start_node()
    await until(lambda: rig.state() is TrayState.IDLE, "the node's status")
    await rig.node.push(status_doc("no_network", datasets={"cty-abc": {"pending": 2}}))
    await until(lambda: rig.state() is TrayState.NO_NETWORK, "the pushed status")
    assert [n.kind for n in rig.sink.notes] == [NoteKind.WENT_OFFLINE]
    assert rig.sink.view.tooltip == "OfficeSync: No network connection"


async def test_reconnects_after_a_restart_on_a_new_port_with_a_new_token(rig: Rig) -> None:
    await rig.start_node("first")
    await until(lambda: rig.state() is TrayState.IDLE, "the node's status")
    await rig.stop_node()
    await until(lambda: rig.state() is TrayState.AGENT_DOWN, "agent not running")
    rig.node = FakeNode()
    await rig.start_node("second")
    await until(lambda: rig.state() is TrayState.IDLE, "the restarted node")
    assert rig.controller.down.value == "not_running"


async def test_toggle_sets_online_and_the_menu_follows(rig: Rig) -> None:
    await rig.start_node()
    await until(lambda: rig.state() is TrayState.IDLE, "the node's status")
    await rig.controller.perform(MenuAction.TOGGLE_ONLINE)
    assert ("PUT", "/online", {"online": False}) in rig.node.calls
    await until(lambda: rig.state() is TrayState.OFFLINE_BY_USER, "offline by user")
    toggle = next(e for e in rig.sink.view.menu if e.action is MenuAction.TOGGLE_ONLINE)
    assert toggle.checked is False
    await rig.controller.perform(MenuAction.TOGGLE_ONLINE)
    assert rig.node.calls.count(("PUT", "/online", {"online": True})) == 1
    await until(lambda: rig.state() is TrayState.IDLE, "back online")


async def test_sync_now_and_a_refusal_is_one_notification(rig: Rig) -> None:
    await rig.start_node()
    await until(lambda: rig.state() is TrayState.IDLE, "the node's status")
    await rig.controller.perform(MenuAction.SYNC_NOW)
    rig.node.refuse_sync = True
    await rig.controller.perform(MenuAction.SYNC_NOW)
    assert rig.node.calls.count(("POST", "/sync", None)) == 2
    assert [(n.kind, n.message) for n in rig.sink.notes] == [
        (NoteKind.ACTION_FAILED, "Lỗi nội bộ")
    ]


async def test_pairing_code_is_notified_and_shown_in_the_menu(rig: Rig) -> None:
    await rig.start_node()
    await until(lambda: rig.state() is TrayState.IDLE, "the node's status")
    await rig.controller.perform(MenuAction.PAIRING_CODE)
    assert rig.sink.notes[-1].kind is NoteKind.PAIRING
    assert "482913" in rig.sink.notes[-1].message
    assert any(e.text.startswith("Pairing code: 482913") for e in rig.sink.view.menu)


async def test_actions_while_the_node_is_down_say_so(rig: Rig) -> None:
    await until(lambda: rig.sink.views, "a first view")
    await rig.controller.perform(MenuAction.SYNC_NOW)
    await rig.controller.perform(MenuAction.OPEN_DASHBOARD)
    assert [n.message for n in rig.sink.notes] == [
        "The OfficeSync service is not running; start it and try again."
    ] * 2


async def test_open_dashboard_opens_the_lan_url(rig: Rig) -> None:
    await rig.start_node()
    await rig.controller.perform(MenuAction.OPEN_DASHBOARD)
    assert rig.opened == ["http://127.0.0.1:8470/"]


async def test_unreadable_token_is_shown_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object) -> None:
        raise ControlError(ControlFailure.TOKEN_UNREADABLE, "denied")

    monkeypatch.setattr("tray.controller.resolve_endpoint", refuse)
    sink = Sink()
    controller = TrayController(TraySettings(tmp_path, "vi"), sink)
    task = asyncio.create_task(controller.run())
    try:
        await until(lambda: len(sink.views) >= 2, "the no-token view")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sink.view.menu[1].text.startswith("Không đọc được tệp control.token")
