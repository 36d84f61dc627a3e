"""Optional TLS on the LAN API (``[lan] tls = true``), the node's side: a self-signed
certificate made at first start.

There is no CA on an office LAN, so trust is by fingerprint: the node shows its certificate's
SHA-256 fingerprint (``GET /api/v1/info``, mDNS TXT ``fp``, tray, dashboard); the workstation
records it when it pairs and from then on refuses any other certificate (the pinning is the
workstation's side, ``workstation.tls``), so a machine impersonating the node cannot read or
write anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT_FILE = "lan-cert.pem"
KEY_FILE = "lan-key.pem"
VALIDITY = dt.timedelta(days=3650)
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsMaterial:
    cert_path: Path
    key_path: Path
    fingerprint_sha256: str  # 64 lowercase hex digits, no separators


def fingerprint_of(cert_pem: bytes) -> str:
    """SHA-256 over the certificate's DER encoding, as TLS clients compute it."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert_pem.decode("ascii"))).hexdigest()


def _san(hostnames: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h for h in hostnames if h):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def make_self_signed(
    common_name: str, hostnames: Iterable[str], now: dt.datetime | None = None
) -> tuple[bytes, bytes]:
    """A new EC P-256 key and a self-signed certificate for it: ``(cert_pem, key_pem)``."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "officesync")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(_san(hostnames), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _still_good(cert_pem: bytes, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > now


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_certificate(
    data_dir: Path, hostnames: Iterable[str], common_name: str = "officesync"
) -> TlsMaterial:
    """The node's LAN certificate under ``data_dir/tls``, made on first use.

    An existing, readable certificate is kept (its fingerprint is what workstations pinned);
    a new one is made only when there is none, it is unreadable, or it expires within 30 days.
    """
    tls_dir = Path(data_dir) / "tls"
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = tls_dir / CERT_FILE, tls_dir / KEY_FILE
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists() and _still_good(cert_path.read_bytes(), now):
        return TlsMaterial(cert_path, key_path, fingerprint_of(cert_path.read_bytes()))
    cert_pem, key_pem = make_self_signed(common_name, hostnames, now)
    _write_private(key_path, key_pem)
    cert_path.write_bytes(cert_pem)
    return TlsMaterial(cert_path, key_path, fingerprint_of(cert_pem))


def server_ssl_context(material: TlsMaterial) -> ssl.SSLContext:
    """For ``web.TCPSite(..., ssl_context=...)``: TLS 1.2+, the node's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(material.cert_path, material.key_path)
    return context
