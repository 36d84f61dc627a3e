"""Protocol version spoken between nodes and the hub (docs/protocol.md)."""

from typing import Final

PROTOCOL_VERSION: Final = 1
MIN_PROTOCOL: Final = 1
PROTOCOL_HEADER: Final = "OfficeSync-Protocol"
PACKAGE_VERSION: Final = "0.1.0"
