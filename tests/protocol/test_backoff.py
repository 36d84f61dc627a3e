"""The one retry schedule (node sync and supervision, tray, workstation): equal jitter."""

from __future__ import annotations

import pytest

from protocol.backoff import Backoff


@pytest.mark.parametrize("jitter", [0.0, 0.3, 0.999])
def test_each_wait_is_between_half_and_all_of_the_doubling_ceiling(jitter: float) -> None:
    backoff = Backoff(base=0.5, cap=4.0)
    for attempt, ceiling in enumerate([0.5, 1.0, 2.0, 4.0, 4.0, 4.0]):
        delay = backoff.delay(attempt, jitter)
        assert ceiling / 2 <= delay <= ceiling
        assert delay == pytest.approx(ceiling * (0.5 + 0.5 * jitter))


def test_a_huge_attempt_stays_at_the_cap_and_next_delay_follows_the_schedule() -> None:
    assert Backoff(base=1, cap=8).delay(10_000, 1.0) == 8
    draws = iter([0.0, 1.0, 0.5])
    backoff = Backoff(base=1, cap=8, rng=lambda: next(draws))
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 2, 3]
    backoff.reset()
    assert backoff.attempt == 0
