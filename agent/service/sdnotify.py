"""systemd's notify protocol, spoken by the node itself (``Type=notify`` in the unit).

``sd_notify(3)``: the service manager passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for an
abstract socket) and the service sends newline-separated ``KEY=VALUE`` datagrams to it:
``READY=1`` once it serves, ``STOPPING=1`` when it starts shutting down, ``WATCHDOG=1`` at least
every ``WATCHDOG_USEC`` microseconds, ``STATUS=...`` for ``systemctl status``.

Outside systemd (no ``NOTIFY_SOCKET``) every call is a silent no-op, so the node code calls the
notifier unconditionally.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger("officesync.service")


def socket_address(raw: str | None) -> str | None:
    """The address to send to, from ``NOTIFY_SOCKET`` (``@name`` means an abstract socket)."""
    if not raw:
        return None
    if raw.startswith("@"):
        return "\0" + raw[1:]
    if raw.startswith("/"):
        return raw
    return None  # vsock and other address kinds are not used by this service


def watchdog_interval(env: Mapping[str, str], pid: int) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``WATCHDOG_USEC``, or ``None`` when the
    watchdog is off or meant for another process (``WATCHDOG_PID``)."""
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000 / 2


class SystemdNotifier:
    """Sends notify-protocol datagrams; does nothing when not started by systemd."""

    def __init__(self, address: str | None) -> None:
        self._address = address
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SystemdNotifier:
        env = os.environ if env is None else env
        return cls(socket_address(env.get("NOTIFY_SOCKET")))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ...) as one datagram; True when it was sent."""
        if self._address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode("utf-8"), self._address)
        except OSError as err:
            # The manager going away must never take the node down with it.
            log.warning("sd_notify to %r failed: %s", self._address, err)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        fields = ["READY=1", f"MAINPID={os.getpid()}"]
        if status:
            fields.append(f"STATUS={status}")
        return self.notify(*fields)

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


async def watchdog_loop(
    notifier: SystemdNotifier | None = None,
    interval: float | None = None,
) -> None:
    """Ping the systemd watchdog every half ``WATCHDOG_USEC`` until cancelled.

    Runs on the event loop on purpose: a loop that stops turning stops the pings, and systemd
    restarts the hung node. Returns at once when there is no watchdog to ping.
    """
    notifier = notifier or SystemdNotifier.from_env()
    if interval is None:
        interval = watchdog_interval(os.environ, os.getpid())
    if not notifier.enabled or interval is None:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(interval)
