"""Stopping a loop at the very moment it is woken (found by tests/reliability/test_convergence.py,
which hung in a "work offline" toggle): on Python 3.11 ``asyncio.wait_for`` returns the inner
result when its task is cancelled in the same turn as the inner future completes, so the
cancellation was swallowed, the loop went on, and ``Supervisor.cancel`` waited for it forever
(the toggle, and SIGTERM, hung)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from agent.cloud.client import HubUnreachable
from agent.supervisor import wait_woken
from protocol.backoff import Backoff
from protocol.connectivity import Connectivity
from tests.agent.sync.conftest import DS, Node


async def _cancelled_at_wake_up(pause: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    wake = asyncio.Event()
    task = asyncio.create_task(pause(wake))
    await asyncio.sleep(0.05)  # the task waits on the event
    wake.set()
    task.cancel()  # the same turn: the event's waiter and the cancellation race
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_a_worker_pause_cancelled_as_it_is_woken_ends(
    make_node: Callable[..., Awaitable[Node]],
) -> None:
    node = await make_node("office-a", online=False)
    worker = node.engine.workers[DS]
    err = HubUnreachable(Connectivity.CLOUD_UNAVAILABLE, "refused")
    await _cancelled_at_wake_up(lambda wake: worker._pause(Backoff(cap=30), err, wake))


async def test_wait_woken_cancelled_as_it_is_woken_ends() -> None:
    """The wait the monitor's loop and the workers' pauses use."""
    await _cancelled_at_wake_up(lambda wake: wait_woken(wake, 30))
    woken = asyncio.Event()
    woken.set()
    assert await wait_woken(woken, 30) is True
    assert await wait_woken(asyncio.Event(), 0.01) is False


async def test_a_loop_whose_cancellation_was_swallowed_ends_at_its_next_wait() -> None:
    """A library that turns a cancellation into an ordinary error (a timeout firing in the same
    turn) must not keep a stopped loop going: the next ``wait_woken`` ends it."""
    rounds = 0
    entered = asyncio.Event()

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                entered.set()
                await asyncio.sleep(30)   # stands for a hub call
            except asyncio.CancelledError:
                pass                      # swallowed, as a misbehaving library would
            await wait_woken(asyncio.Event(), 0.01)

    task = asyncio.create_task(loop())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert rounds == 1
