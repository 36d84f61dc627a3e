"""The connectivity state machine (scenario S7), pure: no clock, no I/O.

Inputs are what the node knows: is a hub configured (URL and token), is the "Làm việc online"
toggle on, and the outcome of the last hub call. The output is one :class:`Connectivity`.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.connectivity import Connectivity

FAILURES = frozenset({
    Connectivity.NO_NETWORK, Connectivity.CLOUD_UNAVAILABLE,
    Connectivity.AUTH_FAILED, Connectivity.UPGRADE_REQUIRED,
})


@dataclass(frozen=True)
class Transition:
    old: Connectivity
    new: Connectivity


class ConnectivityMachine:
    def __init__(self, *, configured: bool, online: bool) -> None:
        self.configured = configured
        self.toggle = online
        # Until the first probe answers, a configured node counts as "cloud unavailable":
        # it queues, which is the safe assumption.
        self._last_outcome = Connectivity.CLOUD_UNAVAILABLE
        self.state = self._derive()

    def _derive(self) -> Connectivity:
        if not self.toggle:
            return Connectivity.OFFLINE_BY_USER
        if not self.configured:
            return Connectivity.NOT_CONFIGURED
        return self._last_outcome

    def _move(self) -> Transition | None:
        old, self.state = self.state, self._derive()
        return Transition(old, self.state) if old is not self.state else None

    def set_toggle(self, online: bool) -> Transition | None:
        """The user's toggle. Turning it on keeps showing "offline by user" until the fresh
        probe answers, so the user never sees a stale failure from before."""
        self.toggle = online
        if online and self.configured and self.state is Connectivity.OFFLINE_BY_USER:
            self._last_outcome = Connectivity.OFFLINE_BY_USER
            return None
        return self._move()

    def set_configured(self, configured: bool) -> Transition | None:
        self.configured = configured
        return self._move()

    def succeeded(self) -> Transition | None:
        """A hub call (or probe) answered."""
        self._last_outcome = Connectivity.ONLINE
        return self._move()

    def failed(self, kind: Connectivity) -> Transition | None:
        """A hub call (or probe) failed in the way ``kind`` says."""
        if kind not in FAILURES:
            raise ValueError(f"{kind} is not a failure")
        self._last_outcome = kind
        return self._move()

    @property
    def may_call_hub(self) -> bool:
        """Whether sync loops may talk to the hub (never while the user chose offline)."""
        return self.toggle and self.configured

    @property
    def is_online(self) -> bool:
        return self.state is Connectivity.ONLINE
