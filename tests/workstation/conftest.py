"""The workstation tests run against a real node: they share the node fixtures of
``tests/agent/conftest.py`` (a node context on a temp data dir, its LAN app, a paired
workstation's headers)."""

from __future__ import annotations

from tests.agent.conftest import (  # noqa: F401 - fixtures, found by name
    FakeClock,
    auth,
    clock,
    config,
    control,
    control_headers,
    ctx,
    lan,
    make_config,
    pair_workstation,
    wait_subscribed,
)
