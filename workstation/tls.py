"""Fingerprint pinning, the workstation's side of TLS on the LAN API (the node's side, its
self-signed certificate, is ``agent.tls``).

There is no CA on an office LAN: the workstation records the node's certificate fingerprint
(SHA-256) when it pairs and from then on refuses any other certificate.
"""

from __future__ import annotations

import hashlib
import ssl

import aiohttp

from protocol.i18n import Text

MISMATCH_MESSAGE = Text(
    "Chứng chỉ của máy chủ không khớp với chứng chỉ đã ghép nối. "
    "Có thể máy chủ đã được cài lại hoặc có máy khác giả mạo; hãy ghép nối lại nếu chắc chắn.",
    "The node's certificate does not match the one recorded at pairing. The node may "
    "have been reinstalled, or another machine is impersonating it; pair again if you are sure.",
)


def normalize_fingerprint(text: str) -> str:
    """``AB:CD:…`` or ``abcd…`` → 64 lowercase hex digits; ValueError if it is not one."""
    digits = text.replace(":", "").replace(" ", "").strip().lower()
    if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"not a SHA-256 fingerprint: {text!r}")
    return digits


def pinned_fingerprint(fingerprint: str) -> aiohttp.Fingerprint:
    """For aiohttp requests: ``session.get(url, ssl=pinned_fingerprint(fp))`` accepts only the
    certificate with that SHA-256 fingerprint and raises ``aiohttp.ServerFingerprintMismatch``
    on any other (the message for users is ``MISMATCH_MESSAGE``)."""
    return aiohttp.Fingerprint(bytes.fromhex(normalize_fingerprint(fingerprint)))


def pinned_client_ssl_context() -> ssl.SSLContext:
    """The client context to pair with ``pinned_fingerprint`` outside aiohttp's ``ssl=``: no CA
    or hostname check (self-signed), so the caller MUST compare ``peer_fingerprint`` itself."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def peer_fingerprint(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> str | None:
    der = ssl_object.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest() if der else None
