"""The connectivity monitor: probes the hub, hears about every hub call's outcome, and says
when the sync loops may run. Each transition is logged once and published on the event bus.

While the hub is down (refused, reset, timing out, 5xx, wrong TLS…) the monitor probes on a
schedule (:func:`probe_delay`): the first retries come sooner, then once per
``probe_interval``, with jitter, never more often. A failed hub call wakes it only when it
takes the node *out of* online (one immediate probe per outage); a user's "sync now" or
toggle wakes it at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubError,
    HubRateLimited,
    HubUnreachable,
    HubUpgradeRequired,
)
from agent.connectivity.machine import ConnectivityMachine, Transition
from agent.events import ConnectivityEvent, EventBus
from agent.supervisor import Supervisor, wait_woken
from protocol.connectivity import Connectivity
from protocol.version import PROTOCOL_VERSION

log = logging.getLogger("officesync.connectivity")

MONITOR_TASK = "connectivity-monitor"
PROBE_STEPS = 3  # retries before the full interval: interval/8, /4, /2, then the interval
MIN_PROBE_GAP_S = 0.05


def probe_delay(attempt: int, interval: float, rng: Callable[[], float],
                retry_after: float | None = None) -> float:
    """The wait before probe number ``attempt + 1`` of an outage (``attempt`` ≥ 1 failed).

    Pure. Doubling from ``interval / 2**PROBE_STEPS`` up to ``interval`` (the cap), with
    jitter taking up to 10 % off (so offices do not probe in step, and never more often than
    the schedule says); a hub's ``Retry-After`` lengthens the wait, bounded by ten intervals.
    """
    steps = max(0, PROBE_STEPS - max(attempt - 1, 0))
    ceiling = interval / (2.0 ** steps)
    delay = max(min(interval, MIN_PROBE_GAP_S), ceiling * (0.9 + 0.1 * rng()))
    if retry_after is not None:
        delay = max(delay, min(retry_after, interval * 10))
    return delay


def failure_kind(err: HubError) -> Connectivity:
    """What a hub error says about connectivity."""
    if isinstance(err, HubUpgradeRequired):
        return Connectivity.UPGRADE_REQUIRED
    if isinstance(err, HubAuthFailed):
        return Connectivity.AUTH_FAILED
    if isinstance(err, HubUnreachable):
        return err.kind
    return Connectivity.CLOUD_UNAVAILABLE


class ConnectivityMonitor:
    def __init__(
        self,
        client: HubClient | None,
        bus: EventBus,
        *,
        online: bool,
        probe_interval: float,
        probe_timeout: float,
        supervisor: Supervisor | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self.bus = bus
        self.machine = ConnectivityMachine(configured=client is not None, online=online)
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self._wake = asyncio.Event()
        self._online = asyncio.Event()
        self._changed = asyncio.Event()
        self.supervisor = supervisor or Supervisor(cap=max(probe_interval, 1.0))
        self._rng = rng
        self._failed_probes = 0
        self.probes = 0  # probes made since start (for tests and diagnostics)
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
        self.bus.publish(ConnectivityEvent(connectivity=transition.new,
                                           online=self.machine.toggle))
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
        """Any failed hub call marks the node offline at once; when that ends "online", the
        probe is woken (once: while already offline, the probe schedule alone decides)."""
        if not self.machine.may_call_hub or isinstance(err, HubRateLimited):
            return
        was_online = self.machine.is_online
        self._apply(self.machine.failed(failure_kind(err)))
        if was_online:
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

    async def probe(self) -> float | None:
        """Ask the hub's health (short timeout), then an authenticated call; record the result.
        Returns the hub's ``Retry-After`` when it asked the node to slow down."""
        if self.client is None or not self.machine.may_call_hub:
            return None
        self.probes += 1
        try:
            health = await self.client.health(timeout=self.probe_timeout)
            if health.min_protocol > PROTOCOL_VERSION:
                raise HubUpgradeRequired(f"hub needs protocol {health.min_protocol}")
            async with asyncio.timeout(self.probe_timeout):  # not wait_for: see wait_woken
                await self.client.datasets()
        except TimeoutError:
            self._apply(self.machine.failed(Connectivity.CLOUD_UNAVAILABLE))
        except HubRateLimited as err:
            return err.retry_after
        except HubError as err:
            self._apply(self.machine.failed(failure_kind(err)))
        else:
            self.report_success()
        return None

    def next_delay(self, retry_after: float | None = None) -> float:
        """The wait after a failed probe (the outage's schedule, see :func:`probe_delay`)."""
        self._failed_probes += 1
        return probe_delay(self._failed_probes, self.probe_interval, self._rng, retry_after)

    async def run(self) -> None:
        """Probe at once, then while not online on the probe schedule (or when woken)."""
        while True:
            self._wake.clear()
            timeout: float | None = None  # online or off: a failure or a toggle wakes us
            if self.machine.may_call_hub and not self.machine.is_online:
                retry_after = await self.probe()
                if self.machine.may_call_hub and not self.machine.is_online:
                    timeout = self.next_delay(retry_after)
            if timeout is None:
                self._failed_probes = 0
            await wait_woken(self._wake, timeout)

    def start(self) -> None:
        self.supervisor.spawn(MONITOR_TASK, self.run)

    async def stop(self) -> None:
        await self.supervisor.cancel(MONITOR_TASK)
