"""The workstation client and ``officesync ws`` against the real LAN app on a loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from click.testing import CliRunner, Result

from agent.app import NodeContext, create_lan_app
from protocol.errors import ErrorCode
from protocol.query import RecordQuery
from workstation.cli import ws
from workstation.client import WorkstationClient, WorkstationError
from workstation.profile import HOME_ENV, load_profile

from .test_workstation_tokens import MemoryKeyring

DS = "cty-abc"
ServerFactory = Callable[..., Awaitable[TestServer]]


@pytest.fixture
async def node_url(ctx: NodeContext, aiohttp_server: ServerFactory) -> str:
    server = await aiohttp_server(create_lan_app(ctx), host="127.0.0.1", port=0)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def client(ctx: NodeContext, node_url: str) -> AsyncIterator[WorkstationClient]:
    async with WorkstationClient(node_url, language="en") as c:
        await c.pair(ctx.pairing.issue_code().code, "KT-01")
        yield c


async def _accounts(c: WorkstationClient) -> tuple[str, str]:
    debit = await c.create(DS, "accounts", {"number": "131", "name": "Phải thu"})
    credit = await c.create(DS, "accounts", {"number": "511", "name": "Doanh thu"})
    return debit.record.id, credit.record.id


async def test_pair_then_read_and_write(client: WorkstationClient) -> None:
    info = await client.info()
    assert info["name"] == "test-node" and info["protocol"] == 1
    assert await client.datasets() == [{"id": DS, "connected": True, "pending": 0}]
    created = await client.create(DS, "customers", {"code": "KH001", "name": "Công ty A"})
    assert created.etag == f'"{created.record.local_rev}"'
    record, etag = await client.get(DS, "customers", created.record.id)
    assert (record, etag) == created
    page = await client.list_records(DS, "customers", RecordQuery(key="KH001"))
    assert [r.id for r in page.items] == [record.id]
    assert (await client.list_records(DS, "customers", RecordQuery(key="KH404"))).items == []
    renamed = await client.update(DS, "customers", record.id, {"code": "KH001", "name": "B"}, etag)
    assert renamed.record.data["name"] == "B" and renamed.etag != etag


async def test_stale_etag_is_refused_with_the_current_record(client: WorkstationClient) -> None:
    first = await client.create(DS, "customers", {"code": "KH001", "name": "A"})
    newer = await client.update(DS, "customers", first.record.id, {"code": "KH001", "name": "B"},
                                first.etag)
    with pytest.raises(WorkstationError) as caught:
        await client.update(DS, "customers", first.record.id, {"code": "KH001", "name": "C"},
                            first.etag)
    err = caught.value
    assert (err.code, err.status) == (ErrorCode.STALE_LOCAL_COPY, 409)
    assert err.message == "Data has changed, please sync with the server."
    assert err.current == newer.record
    with pytest.raises(WorkstationError) as deleting:
        await client.delete(DS, "customers", first.record.id, first.etag)
    assert deleting.value.code is ErrorCode.STALE_LOCAL_COPY
    still, _ = await client.get(DS, "customers", first.record.id)
    assert still.data["name"] == "B" and not still.deleted


async def test_post_unpost_delete_voucher(client: WorkstationClient) -> None:
    debit, credit = await _accounts(client)
    voucher = await client.create(DS, "vouchers", {
        "type": "receipt", "number": "PT000001", "date": "2026-11-28",
        "lines": [{"debit": debit, "credit": credit, "amount": 500_000}],
    })
    posted = await client.post(DS, "vouchers", voucher.record.id, voucher.etag)
    assert posted.record.data["posted"] is True
    unposted = await client.unpost(DS, "vouchers", voucher.record.id, int(posted.record.local_rev))
    assert unposted.record.data["posted"] is False
    gone = await client.delete(DS, "vouchers", voucher.record.id, unposted.etag)
    assert gone is not None and gone.record.deleted


async def test_errors_keep_code_and_language(client: WorkstationClient, node_url: str) -> None:
    with pytest.raises(WorkstationError) as missing_ref:
        await client.create(DS, "vouchers", {
            "type": "receipt", "date": "2026-11-28",
            "lines": [{"debit": "0b6f2f4e-8a1d-4c36-9d59-2d1f4f7f8a10",
                       "credit": "0b6f2f4e-8a1d-4c36-9d59-2d1f4f7f8a11", "amount": 1}],
        })
    assert missing_ref.value.code is ErrorCode.MISSING_REFERENCE
    async with WorkstationClient(node_url, client.token, language="vi") as vi:
        await vi.create(DS, "customers", {"code": "KH001", "name": "A"})
        with pytest.raises(WorkstationError) as dup:
            await vi.create(DS, "customers", {"code": "KH001", "name": "A again"})
    assert dup.value.code is ErrorCode.DUPLICATE_KEY
    assert "đã tồn tại. Vui lòng kiểm tra lại" in dup.value.message
    with pytest.raises(WorkstationError) as unknown_ds:
        await client.list_records("cty-khac", "customers")
    assert unknown_ds.value.code is ErrorCode.DATASET_NOT_FOUND


async def test_sync_state_endpoints(client: WorkstationClient) -> None:
    await client.create(DS, "customers", {"code": "KH001", "name": "A"})
    summary = await client.sync_summary(DS)
    assert summary["counts"]["pending"] == 1
    assert await client.sync_issues(DS) == []
    # This node has no hub: "sync now" says so instead of pretending (nothing is lost).
    with pytest.raises(WorkstationError) as refused:
        await client.sync_now(DS)
    assert refused.value.code == ErrorCode.NOT_CONFIGURED.value
    pending = await client.list_records(DS, "customers", RecordQuery(sync_state="pending"))
    assert len(pending.items) == 1


async def test_events_stream_record_changes(client: WorkstationClient) -> None:
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def listen() -> None:
        async for event in client.events(DS):
            if event.get("type") == "record":
                await seen.put(event)

    task = asyncio.create_task(listen())
    try:
        async with asyncio.timeout(10):
            n = 0
            while seen.empty():  # the socket may open after the first write: keep writing
                n += 1
                await client.create(DS, "customers", {"code": f"W{n}", "name": "x"})
                await asyncio.sleep(0.02)
            event = await seen.get()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert event["dataset"] == DS and event["record"]["collection"] == "customers"


async def _serve(ctx: NodeContext, port: int) -> web.AppRunner:
    runner = web.AppRunner(create_lan_app(ctx), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner


async def _next_record_event(client: WorkstationClient, seen: asyncio.Queue[Any], tag: str) -> Any:
    """Write until a record event arrives (the socket may be (re)opening); bounded by 10 s."""
    async with asyncio.timeout(10):
        n = 0
        while seen.empty():
            n += 1
            await client.create(DS, "customers", {"code": f"{tag}{n}", "name": "x"})
            await asyncio.sleep(0.05)
        return await seen.get()


async def test_events_reconnect_after_the_node_restarts(
    ctx: NodeContext, unused_tcp_port: int
) -> None:
    runner = await _serve(ctx, unused_tcp_port)
    url = f"http://127.0.0.1:{unused_tcp_port}"
    seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    async with WorkstationClient(url) as client:
        await client.pair(ctx.pairing.issue_code().code, "KT-02")

        async def listen() -> None:
            async for event in client.events(DS, reconnect=True, max_backoff=0.2):
                if event.get("type") == "record":
                    await seen.put(event)

        task = asyncio.create_task(listen())
        try:
            await _next_record_event(client, seen, "A")
            await runner.cleanup()  # the node goes away: the socket closes
            runner = await _serve(ctx, unused_tcp_port)
            while not seen.empty():
                seen.get_nowait()
            event = await _next_record_event(client, seen, "B")
            assert event["record"]["data"]["code"].startswith("B")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runner.cleanup()


async def test_unpaired_client_reads_nothing(node_url: str, client: WorkstationClient) -> None:
    await client.create(DS, "customers", {"code": "KH001", "name": "A"})
    for token in (None, "forged"):
        async with WorkstationClient(node_url, token, language="en") as stranger:
            with pytest.raises(WorkstationError) as caught:
                await stranger.list_records(DS, "customers")
            assert (caught.value.code, caught.value.status) == (ErrorCode.UNAUTHORIZED, 401)
            assert "KH001" not in json.dumps(caught.value.details)
            with pytest.raises(WorkstationError) as ws_refused:
                async for _ in stranger.events():
                    pass
            assert ws_refused.value.code is ErrorCode.UNAUTHORIZED


# --- the CLI, run on its own thread (it has its own event loop) ---------------------------


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


async def _cli(home: Path, *args: str) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, ws, list(args), env={HOME_ENV: str(home)})


async def test_cli_pairs_into_the_keyring_and_edits_with_etags(
    ctx: NodeContext, node_url: str, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    home = tmp_path / "ws"
    code = ctx.pairing.issue_code().code
    paired = await _cli(home, "--lang", "en", "pair", "--node", node_url, "--code", code)
    assert paired.exit_code == 0, paired.stderr
    answer = json.loads(paired.stdout)
    assert answer["token_store"] == "keyring"
    assert "OS keyring" in answer["message"]
    assert not (home / "workstation.token").exists()
    assert load_profile(home).workstation_id == answer["workstation_id"]

    made = await _cli(home, "create", DS, "customers", "--data", '{"code":"KH9","name":"A"}')
    assert made.exit_code == 0, made.stderr
    record = json.loads(made.stdout)
    edit = ["update", DS, "customers", record["id"], "--data", '{"code":"KH9","name":"B"}']
    assert (await _cli(home, *edit, "--etag", "auto")).exit_code == 0
    stale = await _cli(home, *edit, "--etag", record["etag"])  # the profile remembers "en"
    assert stale.exit_code == 1 and stale.stdout == ""
    assert stale.stderr == "STALE_LOCAL_COPY: Data has changed, please sync with the server.\n"
    stale_vi = await _cli(home, "--lang", "vi", *edit, "--etag", record["etag"])
    assert stale_vi.stderr.strip().splitlines() == [
        "STALE_LOCAL_COPY: Dữ liệu đã bị thay đổi, vui lòng thực hiện đồng bộ dữ liệu với máy chủ"
    ]
    listed = json.loads((await _cli(home, "list", DS, "customers", "--key", "KH9")).stdout)
    assert [r["data"]["name"] for r in listed["items"]] == ["B"]
    bad_code = await _cli(tmp_path / "other", "pair", "--node", node_url, "--code", "WRONG")
    assert bad_code.exit_code == 1 and bad_code.stderr.count("\n") == 1
