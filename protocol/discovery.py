"""How a node is announced on the LAN with mDNS / DNS-SD, shared by the node that advertises
(``agent.discovery``) and the workstation that browses (``workstation.discovery``).

Service type ``_officesync._tcp.local.``; TXT keys: ``node`` (node name), ``version``,
``proto`` (protocol version), ``datasets`` (comma list), ``tls`` (``1``/``0``) and ``fp`` (the
LAN certificate's SHA-256 fingerprint, only with TLS). The fingerprint found this way is a
convenience for pairing, not a trust anchor on its own: the pairing code confirms it.
"""

from __future__ import annotations

import re

SERVICE_TYPE = "_officesync._tcp.local."
TXT_VALUE_MAX = 255  # bytes in one TXT string, key and "=" included


def instance_label(node_name: str) -> str:
    """A DNS-SD instance label for the node: printable, no dots, at most 63 UTF-8 bytes."""
    label = re.sub(r"[\x00-\x1f.]+", "-", node_name).strip(" -") or "officesync"
    while len(label.encode("utf-8")) > 63:
        label = label[:-1]
    return label
