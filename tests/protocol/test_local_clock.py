"""What the office's wall clock shows for a moment: one formatter for the demo's pairing code
expiry, the self-check's "checked through" and the tray's pairing code."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest

from protocol.i18n import local_clock


@pytest.fixture
def in_hanoi(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("in_hanoi")
def test_an_iso_text_and_a_datetime_read_the_same() -> None:
    assert local_clock("2026-12-02T04:40:31Z") == "11:40"
    assert local_clock("2026-12-02T04:40:31+00:00") == "11:40"
    assert local_clock(dt.datetime(2026, 12, 2, 4, 40, 31, tzinfo=dt.UTC)) == "11:40"


def test_a_text_that_is_no_time_comes_back_as_it_is() -> None:
    assert local_clock("soon") == "soon"
