"""The tray's asyncio side: follows the node, runs menu actions, feeds the view-model.

It runs on a worker thread's event loop (see ``tray.shell``); menu callbacks on the GUI
thread only post :meth:`TrayController.perform` to that loop. What to draw and say comes
from the pure ``tray.viewmodel``; the :class:`ViewSink` (the pystray icon, or a fake in
tests) applies it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final, Protocol

import aiohttp

from httpkit.control_client import ControlClient, ControlError, ControlFailure, resolve_endpoint
from protocol.backoff import Backoff
from protocol.local import NodeStatus
from tray.notes import Notification, NotificationTracker, action_failed_note, pairing_note
from tray.settings import TraySettings, find_dashboard
from tray.viewmodel import (
    DownReason,
    MenuAction,
    PairingCode,
    TrayView,
    build_view,
    parse_pairing,
)

log = logging.getLogger("officesync.tray")

BACKOFF_BASE_S: Final = 0.25
BACKOFF_CAP_S: Final = 5.0
TICK_S: Final = 1.0


_DOWN: Final = {
    ControlFailure.TOKEN_UNREADABLE: DownReason.NO_TOKEN,
    ControlFailure.UNAUTHORIZED: DownReason.UNAUTHORIZED,
}


def down_reason(err: ControlError) -> DownReason:
    """What the tray shows when a control call failed: a token it may not read, a token the
    node refused, or (anything else: nothing answers, no token yet, a broken answer) "not
    running"."""
    return _DOWN.get(err.reason, DownReason.NOT_RUNNING)


class ViewSink(Protocol):
    def show(self, view: TrayView) -> None: ...

    def notify(self, note: Notification) -> None: ...


class TrayController:
    def __init__(
        self,
        settings: TraySettings,
        sink: ViewSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
        opener: Callable[[str], object] = webbrowser.open,
    ) -> None:
        self.settings, self.sink = settings, sink
        self.lang = settings.language
        self._clock, self._wall, self._jitter, self._opener = clock, wall, jitter, opener
        self.tracker = NotificationTracker(settings.language)
        self.status: NodeStatus | None = None
        self.down = DownReason.NOT_RUNNING
        self.pairing: PairingCode | None = None
        self._client: ControlClient | None = None
        self._shown: TrayView | None = None

    # ------------------------------------------------------------------ following the node

    async def run(self) -> None:
        """Follow the node until cancelled, reconnecting with capped backoff."""
        self._render()
        async with aiohttp.ClientSession() as session:
            ticker = asyncio.create_task(self._tick_forever())
            try:
                await self._follow(session)
            finally:
                ticker.cancel()
                await asyncio.gather(ticker, return_exceptions=True)

    async def _follow(self, session: aiohttp.ClientSession) -> None:
        backoff = Backoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S, rng=self._jitter)
        while True:
            try:
                endpoint = resolve_endpoint(self.settings, self.lang)
                self._client = ControlClient(session, endpoint, self.lang)
                async for status in self._client.events():
                    backoff.reset()
                    self.apply(status)
            except ControlError as err:  # also a refused /status: try again, never crash
                self.lost(down_reason(err))
            self._client = None
            await asyncio.sleep(backoff.next_delay())

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self._emit(self.tracker.tick(self._clock()))
            self._render()

    def apply(self, status: NodeStatus) -> None:
        """A fresh status from the node."""
        self.status = status
        self._emit(self.tracker.observe(status, self._clock()))
        self._render()

    def lost(self, reason: DownReason) -> None:
        """The node is not reachable (any more)."""
        if self.status is not None or reason != self.down:
            log.info("control API unavailable: %s", reason.value)
        self.status, self.down = None, reason
        self._render()

    def _render(self) -> None:
        view = build_view(self.status, self.lang, down=self.down, pairing=self.pairing,
                          now=self._wall())
        if view != self._shown:
            self._shown = view
            self.sink.show(view)

    def _emit(self, notes: list[Notification]) -> None:
        for note in notes:
            self.sink.notify(note)

    # ------------------------------------------------------------------ menu actions

    async def perform(self, action: MenuAction) -> None:
        """Run one menu action; failures become one notification, never an exception."""
        try:
            await self._perform(action)
        except ControlError as err:
            if err.reason is ControlFailure.REFUSED:  # the node said no: its own words
                self._emit([action_failed_note(err.message, self.lang)])
                return
            if down_reason(err) is not DownReason.NOT_RUNNING:
                self.lost(down_reason(err))
            self._emit([action_failed_note(None, self.lang)])

    async def _perform(self, action: MenuAction) -> None:
        if action is MenuAction.OPEN_DASHBOARD:
            await self._open_dashboard()
            return
        client = self._client
        if client is None:  # between two connections: the action fails, the tray says so
            raise ControlError(ControlFailure.NOT_RUNNING, "")
        if action is MenuAction.TOGGLE_ONLINE:
            await client.set_online(not (self.status and self.status.online))
        elif action is MenuAction.SYNC_NOW:
            await client.sync_now()
        elif action is MenuAction.PAIRING_CODE:
            self.pairing = parse_pairing(await client.pairing_code())
            self._emit([pairing_note(self.pairing, self.lang)])
        if self._client is client:  # show the effect now; the event will confirm it
            self.apply(await client.status())

    async def _open_dashboard(self) -> None:
        url = find_dashboard(self.settings)
        if url is None:  # no runtime.json: the node is not running
            raise ControlError(ControlFailure.NOT_RUNNING, "")
        await asyncio.get_running_loop().run_in_executor(None, self._opener, url)
