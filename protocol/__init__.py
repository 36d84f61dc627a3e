"""The wire contract shared by the agent, the hub and the tray.

Nothing here imports any other package of ours: ``protocol`` is the bottom layer.
"""

from protocol.version import MIN_PROTOCOL, PROTOCOL_HEADER, PROTOCOL_VERSION

__all__ = ["MIN_PROTOCOL", "PROTOCOL_HEADER", "PROTOCOL_VERSION"]
