"""The node's fixtures (tests/agent/conftest.py), for the tests that compare the servers."""

from tests.agent.conftest import clock, config, control, control_headers, ctx, lan

__all__ = ["clock", "config", "control", "control_headers", "ctx", "lan"]
