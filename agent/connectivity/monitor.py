"""The connectivity monitor: probes the hub, hears about every hub call's outcome, and says
when the sync loops may run. Each transition is logged once and published on the event bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubError,
    HubRateLimited,
    HubUnreachable,
    HubUpgradeRequired,
)
from agent.connectivity.machine import ConnectivityMachine, Transition
from agent.events import EventBus
from protocol.connectivity import Connectivity
from protocol.version import PROTOCOL_VERSION

log = logging.getLogger("officesync.connectivity")


def failure_kind(err: HubError) -> Connectivity:
    """What a hub error says about connectivity."""
    if isinstance(err, HubUpgradeRequired):
        return Connectivity.UPGRADE_REQUIRED
    if isinstance(err, HubAuthFailed):
        return Connectivity.AUTH_FAILED
    if isinstance(err, HubUnreachable):
        return err.kind
    return Connectivity.CLOUD_UNAVAILABLE


def connectivity_event(state: Connectivity, online: bool) -> dict[str, object]:
    return {"type": "connectivity", "connectivity": state.value, "online": online,
            "message": state.messages()}


class ConnectivityMonitor:
    def __init__(
        self,
        client: HubClient | None,
        bus: EventBus,
        *,
        online: bool,
        probe_interval: float,
        probe_timeout: float,
    ) -> None:
        self.client = client
        self.bus = bus
        self.machine = ConnectivityMachine(configured=client is not None, online=online)
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._wake = asyncio.Event()
        self._online = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sync_online_event()

    @property
    def state(self) -> Connectivity:
        return self.machine.state

    # -- outcomes ---------------------------------------------------------------------------

    def _apply(self, transition: Transition | None) -> None:
        self._sync_online_event()
        if transition is None:
            return
        level = logging.INFO if transition.new in (
            Connectivity.ONLINE, Connectivity.OFFLINE_BY_USER) else logging.WARNING
        log.log(level, "connectivity: %s -> %s", transition.old.value, transition.new.value)
        self.bus.publish(connectivity_event(transition.new, self.machine.toggle))
        self._changed.set()
        self._changed = asyncio.Event()

    def _sync_online_event(self) -> None:
        if self.machine.is_online:
            self._online.set()
        else:
            self._online.clear()

    def report_success(self) -> None:
        if not self.machine.may_call_hub:
            return
        self._apply(self.machine.succeeded())

    def report_failure(self, err: HubError) -> None:
        """Any failed hub call marks the node offline at once and wakes the probe."""
        if not self.machine.may_call_hub or isinstance(err, HubRateLimited):
            return
        self._apply(self.machine.failed(failure_kind(err)))
        self._wake.set()

    def set_toggle(self, online: bool) -> None:
        self._apply(self.machine.set_toggle(online))
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def wait_online(self) -> None:
        await self._online.wait()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    # -- probing ----------------------------------------------------------------------------

    async def probe(self) -> None:
        """Ask the hub's health (short timeout), then an authenticated call; record the result."""
        if self.client is None or not self.machine.may_call_hub:
            return
        try:
            health = await self.client.health(timeout=self.probe_timeout)
            if health.min_protocol > PROTOCOL_VERSION:
                raise HubUpgradeRequired(f"hub needs protocol {health.min_protocol}")
            await asyncio.wait_for(self.client.datasets(), self.probe_timeout)
        except TimeoutError:
            self._apply(self.machine.failed(Connectivity.CLOUD_UNAVAILABLE))
        except HubError as err:
            self.report_failure(err)
        else:
            self.report_success()

    async def run(self) -> None:
        """Probe at once, then whenever not online: every ``probe_interval`` or when woken."""
        while True:
            self._wake.clear()
            if self.machine.may_call_hub and not self.machine.is_online:
                await self.probe()
            if self.machine.may_call_hub and not self.machine.is_online:
                timeout: float | None = self.probe_interval
            else:
                timeout = None  # online or off: a failure or a toggle wakes us
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="connectivity-monitor")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
