"""Time-ordered ids (UUID version 7, RFC 9562) for the records and ops a node makes.

A random UUIDv4 lands anywhere in a B-tree, so every insert dirties some page of the primary
key index (of the node's records and outbox, of the hub's records, feed and op results); a v7
id starts with the time in milliseconds, so new ids go to the right edge of those indexes.
They are still UUIDs: every id made before (v4) keeps working, and nothing reads the time
back out of an id.
"""

from __future__ import annotations

import os
import time
import uuid

_TS_BITS = 48
_VERSION = 0x7
_VARIANT = 0b10


def new_id() -> str:
    """A fresh UUIDv7 in its canonical lower-case form: 48 bits of Unix time in
    milliseconds, the version, 74 random bits, the RFC variant."""
    millis = time.time_ns() // 1_000_000 & ((1 << _TS_BITS) - 1)
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits; 6 are replaced below
    value = millis << 80 | rand
    value = value & ~(0xF << 76) | _VERSION << 76
    value = value & ~(0x3 << 62) | _VARIANT << 62
    return str(uuid.UUID(int=value))
