"""Several hub processes on one listening socket: ``officesync hub serve --workers N``.

A hub process validates and plans pushes in Python, on one core at a time. A PostgreSQL
hub keeps all its state in the database (a row lock per dataset orders the pushes, LISTEN/NOTIFY
wakes every process's long-polls), so several processes can serve the same port: this
supervisor binds the socket, starts ``N`` workers that accept connections on it (the kernel
gives each connection to one of them), starts again one that dies (with a growing pause, so a
worker that cannot start does not spin), and stops them all on SIGTERM or Ctrl+C.

Linux and macOS only: the workers inherit the socket by its file descriptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time

log = logging.getLogger("officesync.hub")

RESTART_PAUSES_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # after 1, 2, … failures in a row
HEALTHY_AFTER_S = 60.0  # a worker up this long had no startup problem: pauses start over
STOP_TIMEOUT_S = 10.0  # SIGTERM, then SIGKILL after this
GRACE_S = 0.5  # a worker that exits this close to a stop was stopped
PARENT_CHECK_S = 2.0


async def orphaned() -> None:
    """Return once this worker's supervisor is gone (killed without stopping its workers):
    the worker then stops too, instead of serving the port on its own."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 (no event tells a parent's death)
        await asyncio.sleep(PARENT_CHECK_S)


def listening_socket(host: str, port: int) -> socket.socket:
    """The hub's socket, bound and listening, inheritable by the workers (``OSError`` with
    ``EADDRINUSE`` when the port is taken)."""
    sock = socket.create_server((host, port), backlog=1024)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    """Keeps ``count`` copies of ``command`` running, each given the socket ``fd``."""

    def __init__(self, command: list[str], count: int, fd: int) -> None:
        self.command, self.count, self.fd = command, count, fd
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        """Until :meth:`stop`; returns once every worker has exited."""
        await asyncio.gather(*(self._keep(slot) for slot in range(self.count)))

    def stop(self) -> None:
        self.stopping.set()

    async def _keep(self, slot: int) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            proc = await asyncio.create_subprocess_exec(*self.command, pass_fds=(self.fd,))
            code = await self._wait(proc)
            if code is None:  # stopped by us
                return
            with contextlib.suppress(TimeoutError):  # Ctrl+C reached the workers first
                await asyncio.wait_for(self.stopping.wait(), GRACE_S)
                return
            failures = 0 if time.monotonic() - started >= HEALTHY_AFTER_S else failures + 1
            pause = RESTART_PAUSES_S[max(0, min(failures, len(RESTART_PAUSES_S)) - 1)]
            log.warning("hub worker %d (pid %d) exited with status %s; starting it again in "
                        "%.0f s", slot + 1, proc.pid, code, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), pause)

    async def _wait(self, proc: asyncio.subprocess.Process) -> int | None:
        """The worker's exit status, or ``None`` when the supervisor stopped it."""
        exited = asyncio.ensure_future(proc.wait())
        stopping = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not self.stopping.is_set():
            return await exited
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(exited), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await exited
        return None
