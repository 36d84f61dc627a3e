"""Pairing: one-time codes that expire, per-address rate limiting, hashed tokens, revocation."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from agent.app import NodeContext, build_context, create_lan_app
from agent.config import Config
from agent.lan_api.pairing import (
    CODE_ALPHABET,
    USED_WINDOW_S,
    FailureLimiter,
    normalize_code,
)
from tests.agent.conftest import (
    DATASET,
    AppClient,
    FakeClock,
    pair_workstation,
    wait_subscribed,
)

PAIR = "/api/v1/pair"
RECORDS = f"/api/v1/datasets/{DATASET}/records/customers"


def test_limiter_allows_five_failures_per_minute(clock: FakeClock) -> None:
    limiter = FailureLimiter(clock)
    for _ in range(5):
        assert limiter.retry_after("10.0.0.9") is None
        limiter.fail("10.0.0.9")
        clock.advance(1)
    assert limiter.retry_after("10.0.0.9") == 55
    assert limiter.retry_after("10.0.0.8") is None  # another address is not affected
    clock.advance(55)
    assert limiter.retry_after("10.0.0.9") is None


def test_codes_are_typed_forgivingly(ctx: NodeContext) -> None:
    code = ctx.pairing.issue_code()
    assert len(code.code) == 8 and set(code.code) <= set(CODE_ALPHABET)
    assert not set("01OIL") & set(CODE_ALPHABET)
    assert normalize_code(" abcd-efgh ") == "ABCDEFGH"
    assert code.as_json()["expires_at"].endswith("Z")


async def test_code_pairs_once_and_token_works(
    lan: AppClient, ctx: NodeContext, clock: FakeClock
) -> None:
    code = ctx.pairing.issue_code().code
    resp = await lan.post(PAIR, json={"code": code.lower(), "name": "Kế toán 1"})
    assert resp.status == 201
    answer = await resp.json()
    assert set(answer) == {"workstation_id", "token"} and len(answer["token"]) >= 40
    auth = {"Authorization": f"Bearer {answer['token']}"}
    assert (await lan.get(RECORDS, headers=auth)).status == 200

    again = await lan.post(PAIR, json={"code": code, "name": "Kế toán 2"})
    assert again.status == 409  # a moment later: "already used", no second token
    assert (await again.json())["error"]["code"] == "PAIRING_CODE_USED"
    clock.advance(USED_WINDOW_S)
    later = await lan.post(PAIR, json={"code": code, "name": "Kế toán 2"})
    assert later.status == 403
    assert (await later.json())["error"]["code"] == "PAIRING_CODE_INVALID"


async def test_code_expires_after_ten_minutes(
    lan: AppClient, ctx: NodeContext, clock: FakeClock
) -> None:
    fresh, stale = ctx.pairing.issue_code().code, ctx.pairing.issue_code().code
    clock.advance(599)
    assert (await lan.post(PAIR, json={"code": fresh, "name": "a"})).status == 201
    clock.advance(2)
    resp = await lan.post(PAIR, json={"code": stale, "name": "b"})
    assert resp.status == 403


async def test_sixth_wrong_code_in_a_minute_is_rate_limited(
    lan: AppClient, ctx: NodeContext, clock: FakeClock
) -> None:
    good = ctx.pairing.issue_code().code
    for _ in range(5):
        resp = await lan.post(PAIR, json={"code": "WRONG234", "name": "x"})
        assert resp.status == 403
    resp = await lan.post(PAIR, json={"code": good, "name": "x"}, headers={"Accept-Language": "en"})
    assert resp.status == 429
    assert resp.headers["Retry-After"] == "60"
    error = (await resp.json())["error"]
    assert error["code"] == "RATE_LIMITED" and "60 seconds" in error["message"]
    clock.advance(60)
    assert (await lan.post(PAIR, json={"code": good, "name": "x"})).status == 201


async def test_a_double_click_is_not_a_wrong_guess(
    lan: AppClient, ctx: NodeContext
) -> None:
    for _ in range(4):  # four wrong guesses: one more would lock the address out
        assert (await lan.post(PAIR, json={"code": "WRONG234", "name": "x"})).status == 403
    code = ctx.pairing.issue_code().code
    first, second = await asyncio.gather(  # the same code submitted twice at once
        lan.post(PAIR, json={"code": code, "name": "Kế toán"}),
        lan.post(PAIR, json={"code": code, "name": "Kế toán"},
                 headers={"Accept-Language": "en"}),
    )
    assert sorted([first.status, second.status]) == [201, 409]
    loser = first if first.status == 409 else second
    error = (await loser.json())["error"]
    assert error["code"] == "PAIRING_CODE_USED"
    assert ("clicked twice" in error["message"]) or ("bấm hai lần" in error["message"])
    assert len(await ctx.pairing.workstations()) == 1  # one workstation, one token
    # Not counted: the address may still pair with the next code.
    resp = await lan.post(PAIR, json={"code": ctx.pairing.issue_code().code, "name": "y"})
    assert resp.status == 201


async def test_a_failed_pairing_gives_the_code_back(
    lan: AppClient, ctx: NodeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = ctx.pairing.issue_code().code

    async def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with monkeypatch.context() as patch:
        patch.setattr(ctx.node_db, "add_workstation", broken)
        assert (await lan.post(PAIR, json={"code": code, "name": "x"})).status == 500
    assert (await lan.post(PAIR, json={"code": code, "name": "x"})).status == 201


async def test_url_token_works_only_on_the_websocket_route(
    lan: AppClient, auth: dict[str, str]
) -> None:
    token = auth["Authorization"].removeprefix("Bearer ")
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade"}
    resp = await lan.get(f"{RECORDS}?token={token}", headers=upgrade)
    assert resp.status == 401  # tokens in URLs end up in logs: only where browsers need them
    resp = await lan.get(f"/api/v1/datasets?token={token}")
    assert resp.status == 401
    ws = await lan.ws_connect(f"/api/v1/events?token={token}")
    assert not ws.closed
    await ws.close()


async def test_bad_pair_bodies(lan: AppClient) -> None:
    resp = await lan.post(PAIR, json={"code": "ABCDEFGH"})
    assert resp.status == 422
    resp = await lan.post(PAIR, data=b"code=1", headers={"Content-Type": "text/plain"})
    assert resp.status == 415


async def test_tokens_are_stored_only_as_hashes_and_survive_restart(
    lan: AppClient, ctx: NodeContext, config: Config, clock: FakeClock,
    aiohttp_client: Callable[..., Awaitable[AppClient]],
) -> None:
    answer = await pair_workstation(lan, ctx)
    raw = (config.data_dir / "node.db").read_bytes()
    raw += (config.data_dir / "node.db-wal").read_bytes()
    assert answer["token"].encode() not in raw
    with sqlite3.connect(config.data_dir / "node.db") as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM node_workstations")]
    assert names == ["ws-1"]

    second = await build_context(config, clock=clock)
    try:
        client = await aiohttp_client(create_lan_app(second))
        auth = {"Authorization": f"Bearer {answer['token']}"}
        assert (await client.get(RECORDS, headers=auth)).status == 200
    finally:
        await second.close()


async def test_revoked_workstation_reads_nothing_and_its_socket_closes(
    lan: AppClient, ctx: NodeContext
) -> None:
    keep = await pair_workstation(lan, ctx, "keep")
    gone = await pair_workstation(lan, ctx, "gone")
    gone_auth = {"Authorization": f"Bearer {gone['token']}"}
    ws = await lan.ws_connect("/api/v1/events", headers=gone_auth)
    await wait_subscribed(ctx, 1)

    assert await ctx.pairing.revoke(gone["workstation_id"]) is True
    assert await ctx.pairing.revoke(gone["workstation_id"]) is False
    async with asyncio.timeout(5):
        msg = await ws.receive()
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "workstation revoked"
    await ws.close()

    assert (await lan.get(RECORDS, headers=gone_auth)).status == 401
    keep_auth = {"Authorization": f"Bearer {keep['token']}"}
    assert (await lan.get(RECORDS, headers=keep_auth)).status == 200
    remaining = [w.name for w in await ctx.pairing.workstations()]
    assert remaining == ["keep"]
