"""Connectivity between the node and the hub: a pure state machine and the monitor around it."""
