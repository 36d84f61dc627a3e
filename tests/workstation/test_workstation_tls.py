"""Pairing with a node whose LAN API uses TLS (``[lan] tls = true``): the certificate is pinned
at pairing (given, advertised or trusted on first use) and any other one is refused — at
pairing, before the code is sent, and on every later call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from agent.app import NodeContext, build_context, create_lan_app
from agent.tls import TlsMaterial, ensure_certificate, server_ssl_context
from protocol.errors import ErrorCode
from workstation.client import FINGERPRINT_MISMATCH, WorkstationClient, WorkstationError
from workstation.messages import LocalError
from workstation.pairing import PairTarget, pair
from workstation.tls import MISMATCH_MESSAGE

from .conftest import FakeClock, make_config


async def _serve(app: web.Application, material: TlsMaterial) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl_context(material))
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def tls_ctx(tmp_path: Path, clock: FakeClock) -> AsyncIterator[NodeContext]:
    context = await build_context(make_config(tmp_path / "node", lan={"tls": True}), clock=clock)
    assert context.tls is not None
    yield context
    await context.close()


@pytest.fixture
async def node_url(tls_ctx: NodeContext) -> AsyncIterator[str]:
    assert tls_ctx.tls is not None
    async for url in _serve(create_lan_app(tls_ctx), tls_ctx.tls):
        yield url


@pytest.fixture
def other_cert(tmp_path: Path) -> TlsMaterial:
    return ensure_certificate(tmp_path / "impostor", ["127.0.0.1"], "impostor")


def _fp(ctx: NodeContext) -> str:
    assert ctx.tls is not None
    return ctx.tls.fingerprint_sha256


async def test_trust_on_first_use_pins_the_stated_certificate(
    tls_ctx: NodeContext, node_url: str
) -> None:
    paired = await pair(PairTarget(node_url, None), tls_ctx.pairing.issue_code().code, "KT", "en")
    assert paired.fingerprint == _fp(tls_ctx)
    token = paired.answer.token
    async with WorkstationClient(node_url, token, fingerprint=paired.fingerprint) as client:
        assert (await client.info())["tls_fingerprint"] == _fp(tls_ctx)
        assert await client.datasets() == [{"id": "cty-abc", "connected": True, "pending": 0}]


async def test_a_given_fingerprint_must_be_the_certificate(
    tls_ctx: NodeContext, node_url: str, other_cert: TlsMaterial
) -> None:
    code = tls_ctx.pairing.issue_code().code
    wrong = PairTarget(node_url, other_cert.fingerprint_sha256)
    with pytest.raises(LocalError) as err:
        await pair(wrong, code, "KT", "en")
    assert err.value.key == "pair_fingerprint_mismatch" and err.value.code is ErrorCode.FORBIDDEN
    assert _fp(tls_ctx) in err.value.text("en")
    # The code was never sent: it still pairs with the right fingerprint.
    paired = await pair(PairTarget(node_url, _fp(tls_ctx)), code, "KT", "vi")
    assert paired.fingerprint == _fp(tls_ctx) and paired.answer.token


async def test_a_node_stating_another_certificate_gets_no_code(other_cert: TlsMaterial,
                                                              tls_ctx: NodeContext) -> None:
    """An impostor that relays the real node's fingerprint on /info but cannot show its
    certificate: trust on first use pins the stated one, so the pairing request fails."""
    codes: list[str] = []

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"name": "node", "tls_fingerprint": _fp(tls_ctx)})

    async def pair_route(request: web.Request) -> web.Response:
        codes.append((await request.json())["code"])
        return web.json_response({"workstation_id": "x", "token": "t"}, status=201)

    app = web.Application()
    app.router.add_get("/api/v1/info", info)
    app.router.add_post("/api/v1/pair", pair_route)
    async for url in _serve(app, other_cert):
        with pytest.raises(LocalError) as err:
            await pair(PairTarget(url, None), "SECRET-CODE", "KT", "vi")
        assert err.value.key == "pair_fingerprint_mismatch"
    assert codes == []


async def test_https_node_without_a_stated_fingerprint_is_refused(other_cert: TlsMaterial) -> None:
    async def info(request: web.Request) -> web.Response:
        return web.json_response({"name": "node", "tls_fingerprint": None})

    app = web.Application()
    app.router.add_get("/api/v1/info", info)
    async for url in _serve(app, other_cert):
        with pytest.raises(LocalError) as err:
            await pair(PairTarget(url, None), "CODE", "KT", "en")
        assert err.value.key == "no_tls_fingerprint"
        assert "--fingerprint" in err.value.text("en")


async def test_a_later_call_to_another_certificate_is_refused(
    tls_ctx: NodeContext, node_url: str, other_cert: TlsMaterial
) -> None:
    paired = await pair(PairTarget(node_url, None), tls_ctx.pairing.issue_code().code, "KT", "vi")
    token = paired.answer.token
    pinned_elsewhere = other_cert.fingerprint_sha256
    for lang in ("vi", "en"):
        async with WorkstationClient(
            node_url, token, language=lang, fingerprint=pinned_elsewhere
        ) as client:
            with pytest.raises(WorkstationError) as err:
                await client.datasets()
        assert (err.value.code, err.value.status) == (ErrorCode.FORBIDDEN, 0)
        assert err.value.message == MISMATCH_MESSAGE[lang]
        assert err.value.details["got"] == _fp(tls_ctx)
        assert err.value.details["expected"] == pinned_elsewhere


async def test_events_do_not_retry_a_certificate_that_is_not_the_pinned_one(
    tls_ctx: NodeContext, node_url: str, other_cert: TlsMaterial
) -> None:
    paired = await pair(PairTarget(node_url, None), tls_ctx.pairing.issue_code().code, "KT", "en")
    async with WorkstationClient(
        node_url, paired.answer.token, fingerprint=other_cert.fingerprint_sha256
    ) as client:
        async def read_events() -> None:
            async with asyncio.timeout(10):
                async for _ in client.events(reconnect=True):
                    pass

        with pytest.raises(WorkstationError) as err:
            await read_events()
    assert err.value.details["reason"] == FINGERPRINT_MISMATCH
