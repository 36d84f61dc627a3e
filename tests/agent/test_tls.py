"""LAN TLS: a self-signed certificate made once and kept, and a workstation pinned to the
node's fingerprint talks to it while a different certificate is refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509

from agent.tls import (
    TlsMaterial,
    ensure_certificate,
    fingerprint_of,
    make_self_signed,
    server_ssl_context,
)
from workstation.tls import (
    normalize_fingerprint,
    peer_fingerprint,
    pinned_client_ssl_context,
    pinned_fingerprint,
)


def test_certificate_is_made_once_and_kept(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["officesync.local", "127.0.0.1"], "node-a")
    assert first.cert_path.exists() and first.key_path.exists()
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert first.fingerprint_sha256 == fingerprint_of(first.cert_path.read_bytes())
    assert len(first.fingerprint_sha256) == 64
    # The second start keeps it: workstations pinned this fingerprint.
    assert ensure_certificate(tmp_path, ["other-name"]) == first
    cert = x509.load_pem_x509_certificate(first.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "officesync.local" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_an_expiring_or_broken_certificate_is_replaced(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, ["127.0.0.1"])
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3640)
    cert_pem, _ = make_self_signed("node", ["127.0.0.1"], now=old)
    first.cert_path.write_bytes(cert_pem)
    renewed = ensure_certificate(tmp_path, ["127.0.0.1"])
    assert renewed.fingerprint_sha256 not in (first.fingerprint_sha256, fingerprint_of(cert_pem))
    renewed.cert_path.write_bytes(b"garbage")
    assert ensure_certificate(tmp_path, ["127.0.0.1"]).fingerprint_sha256 != (
        renewed.fingerprint_sha256
    )


def test_fingerprint_forms() -> None:
    digits = "ab" * 32
    assert normalize_fingerprint(":".join(["AB"] * 32)) == digits
    assert normalize_fingerprint(digits) == digits
    with pytest.raises(ValueError, match="not a SHA-256 fingerprint"):
        normalize_fingerprint("abcd")
    with pytest.raises(ValueError, match="not a SHA-256 fingerprint"):
        pinned_fingerprint("zz" * 32)


@pytest.fixture
def material_a(tmp_path: Path) -> TlsMaterial:
    return ensure_certificate(tmp_path / "a", ["127.0.0.1"], "node-a")


@pytest.fixture
def material_b(tmp_path: Path) -> TlsMaterial:
    return ensure_certificate(tmp_path / "b", ["127.0.0.1"], "node-b")


@pytest.fixture
async def tls_server(material_a: TlsMaterial) -> AsyncIterator[str]:
    async def info(request: web.Request) -> web.Response:
        return web.json_response({"name": "node-a"})

    app = web.Application()
    app.router.add_get("/api/v1/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(material_a))
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}/api/v1/info"
    await runner.cleanup()


async def test_client_pinned_to_the_node_certificate_connects(
    tls_server: str, material_a: TlsMaterial
) -> None:
    async with aiohttp.ClientSession() as session:
        pin = pinned_fingerprint(material_a.fingerprint_sha256)
        async with session.get(tls_server, ssl=pin) as response:
            assert await response.json() == {"name": "node-a"}


async def test_client_pinned_to_another_certificate_is_refused(
    tls_server: str, material_b: TlsMaterial
) -> None:
    async with aiohttp.ClientSession() as session:
        pin = pinned_fingerprint(material_b.fingerprint_sha256)
        with pytest.raises(aiohttp.ServerFingerprintMismatch):
            async with session.get(tls_server, ssl=pin):
                pass


async def test_default_verification_refuses_the_self_signed_certificate(tls_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            async with session.get(tls_server):
                pass


async def test_pinned_context_exposes_the_peer_fingerprint(
    tls_server: str, material_a: TlsMaterial
) -> None:
    port = urlsplit(tls_server).port
    _, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=pinned_client_ssl_context(), server_hostname="officesync"
    )
    ssl_object = writer.get_extra_info("ssl_object")
    assert peer_fingerprint(ssl_object) == material_a.fingerprint_sha256
    writer.close()
    await writer.wait_closed()
