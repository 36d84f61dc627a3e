"""``officesync ws conflicts`` and ``officesync ws resolve`` against a real node (store, sync
engine, LAN app) syncing with an in-process hub, and a second office writing through the same
hub: what waits is listed the way an accountant knows it, a record is named by its key, and
every bad input is one line in the chosen language that changes nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner, Result

from agent.app import NodeContext, build_context, create_lan_app
from agent.cloud.client import HubClient
from agent.config import CloudSection
from agent.sync.api import SyncControl
from agent.sync.engine import SyncEngine
from protocol.query import RecordQuery
from tests.agent.conftest import make_config
from tests.agent.sync.conftest import (
    DS,
    Hub,
    Node,
    enrolled_node,
    eventually,
    serve_hub,
)
from tests.hub.helpers import make_code
from workstation.cli import ws
from workstation.profile import HOME_ENV

from .test_workstation_tokens import MemoryKeyring

ServerFactory = Callable[..., Awaitable[TestServer]]


@dataclass
class Offices:
    a: Node              # the other office: store + engine only
    b: NodeContext       # this office: the node the workstation talks to
    home: Path           # the paired workstation's profile

    @property
    def b_store(self) -> Any:
        return self.b.stores.get(DS)

    async def b_online(self, online: bool) -> None:
        await self.b.sync.set_online(online)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


async def _cli(home: Path, *args: str, stdin: str | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, ws, list(args), input=stdin,
                                   env={HOME_ENV: str(home)})


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async for handle in serve_hub(tmp_path):
        yield handle


@pytest.fixture
async def offices(tmp_path: Path, hub: Hub, aiohttp_server: ServerFactory,
                  memory_keyring: MemoryKeyring) -> AsyncIterator[Offices]:
    a, _ = await enrolled_node(tmp_path, "office-a", hub.url, hub.db_url)
    enroller = HubClient(hub.url)
    try:
        enrolled = await enroller.enroll(make_code(hub.db_url, DS), "office-b")
    finally:
        await enroller.close()

    async def factory(ctx: NodeContext) -> SyncControl:
        for store in ctx.stores.connected():
            store.local_numbering = False
        engine = SyncEngine(
            ctx.stores, ctx.node_db, ctx.bus, HubClient(hub.url, enrolled.token, timeout=5),
            CloudSection(probe_interval_s=0.1, probe_timeout_s=1.0, batch_size=50,
                         long_poll_s=0.5, max_backoff_s=0.2),
            hub_node_id=enrolled.node_id, online=True)
        await engine.start()
        ctx.on_close.append(engine.stop)
        return engine

    b = await build_context(make_config(tmp_path / "office-b"), sync_factory=factory)
    try:
        server = await aiohttp_server(create_lan_app(b), host="127.0.0.1", port=0)
        home = tmp_path / "ws-home"
        paired = await _cli(home, "pair", "--node", str(server.make_url("")).rstrip("/"),
                            "--code", b.pairing.issue_code().code, "--name", "KT-B")
        assert paired.exit_code == 0, paired.stderr
        yield Offices(a, b, home)
    finally:
        await b.close()
        await a.close()


async def _b_has(o: Offices, collection: str, key: str) -> None:
    async def there() -> bool:
        page = await o.b_store.query(collection, RecordQuery(key=key))
        return bool(page.items) and all(r.sync.state == "synced" for r in page.items)

    await eventually(there)


async def _b_state(o: Offices, collection: str, record_id: str, state: str) -> None:
    async def reached() -> bool:
        return bool((await o.b_store.get(collection, record_id)).sync.state == state)

    await eventually(reached)


async def _same_field_conflict(o: Offices) -> str:
    """Customer KH900 synced at both offices, its phone changed at A and, offline, at B."""
    created = await o.a.store.create("customers", {"code": "KH900", "name": "Công ty Sao Mai",
                                                   "phone": "0281"})
    await _b_has(o, "customers", "KH900")
    await o.b_online(False)
    mine = await o.b_store.get("customers", created.id)
    await o.b_store.update("customers", created.id,
                           {"code": "KH900", "name": "Công ty Sao Mai", "phone": "0282"},
                           if_match=mine.local_rev)
    await o.a.store.update("customers", created.id,
                           {"code": "KH900", "name": "Công ty Sao Mai", "phone": "0283"},
                           if_match=created.local_rev)

    async def a_synced() -> bool:
        return (await o.a.store.get("customers", created.id)).version == 2

    await eventually(a_synced)
    await o.b_online(True)
    await _b_state(o, "customers", created.id, "conflict")
    return created.id


async def test_conflicts_lists_the_clash_and_resolve_takes_a_key(offices: Offices) -> None:
    o = offices
    record_id = await _same_field_conflict(o)
    shown = await _cli(o.home, "--lang", "en", "conflicts", DS)
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Customer KH900  [conflict STALE_VERSION]  id {record_id}"
    assert any("officesync ws resolve cty-abc customers KH900 take_cloud|keep_local|merge" in line
               for line in lines)
    listed = json.loads((await _cli(o.home, "conflicts", DS, "--json")).stdout)
    assert [(e["label"], e["key"], e["state"], e["id"]) for e in listed] == [
        ("Khách hàng", "KH900", "conflict", record_id)]
    # The clashing field, with the three values the accountant chooses between.
    assert listed[0]["fields"] == [{"field": "phone", "label": "Điện thoại (phone)",
                                    "base": "0281", "local": "0282", "cloud": "0283"}]

    settled = await _cli(o.home, "resolve", DS, "customers", "kh900", "take_cloud")
    assert settled.exit_code == 0, settled.stderr
    record = json.loads(settled.stdout)
    assert (record["id"], record["data"]["phone"], record["sync"]["state"]) == (
        record_id, "0283", "synced")
    assert record["etag"] == f'"{record["local_rev"]}"'
    empty = await _cli(o.home, "--lang", "en", "conflicts", DS)
    assert empty.stdout == "Nothing waits in dataset cty-abc\n"
    assert json.loads((await _cli(o.home, "conflicts", DS, "--json")).stdout) == []


async def test_bad_input_is_one_line_and_changes_nothing(offices: Offices) -> None:
    o = offices
    record_id = await _same_field_conflict(o)
    before = await o.b_store.get("customers", record_id)
    base = ["resolve", DS, "customers", record_id]
    cases: list[tuple[list[str], str]] = [
        ([*base, "keep_mine"], "VALIDATION_FAILED: Cách xử lý keep_mine không có. Hãy chọn "
         "một trong: take_cloud, keep_local, merge, restore, discard, link_existing, rename"),
        ([*base, "merge", "--data", '{"phone": '],
         "INVALID_JSON: Dữ liệu --data không phải JSON hợp lệ (sai ở dòng 1, cột 11)"),
        ([*base, "merge", "--data", "[1]"],
         "INVALID_JSON: Dữ liệu --data phải là một đối tượng JSON {…} (các trường trong "
         "ngoặc nhọn)"),
        ([*base, "merge", "--choose", "phone=mine"],
         "VALIDATION_FAILED: --choose phone=mine không đúng dạng: hãy viết TRƯỜNG=local hoặc "
         "TRƯỜNG=cloud (local: giữ giá trị của văn phòng này, cloud: lấy giá trị trên Cloud)"),
        (["resolve", DS, "customers", "KH404", "take_cloud"],
         "NOT_FOUND: Không tìm thấy khách hàng có mã KH404 trong dữ liệu cty-abc (hãy xem: "
         "officesync ws conflicts cty-abc)"),
    ]
    for args, line in cases:
        done = await _cli(o.home, *args)
        assert (done.exit_code, done.stdout) == (1, ""), args
        assert done.stderr == line + "\n", args
    english = await _cli(o.home, "--lang", "en", "resolve", DS, "customers", "KH404",
                         "take_cloud")
    assert english.stderr == ("NOT_FOUND: No customer with the key KH404 in dataset cty-abc "
                              "(see: officesync ws conflicts cty-abc)\n")
    # A record the node does not have: the node's own NOT_FOUND, one line.
    unknown = await _cli(o.home, "--lang", "en", "resolve", DS, "customers",
                         "0b6f2f4e-8a1d-4c36-9d59-2d1f4f7f8a10", "take_cloud")
    assert unknown.exit_code == 1 and unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("NOT_FOUND: ")
    assert "Traceback" not in unknown.stderr + unknown.stdout
    assert await o.b_store.get("customers", record_id) == before


async def test_conflicts_names_the_blocker_of_a_waiting_voucher(offices: Offices) -> None:
    o = offices
    await o.b_online(False)
    a_cust = await o.a.store.create("customers", {"code": "KH100", "name": "An Phát (A)"})

    async def a_synced() -> bool:
        return (await o.a.store.get("customers", a_cust.id)).version == 1

    await eventually(a_synced)
    cash = await o.b_store.create("accounts", {"number": "111", "name": "Tiền mặt"})
    recv = await o.b_store.create("accounts", {"number": "131", "name": "Phải thu"})
    mine = await o.b_store.create("customers", {"code": "KH100", "name": "An Phát (B)"})
    slip = await o.b_store.create("vouchers", {
        "type": "receipt", "number": "PT000123", "date": "2026-11-20", "customer": mine.id,
        "lines": [{"debit": cash.id, "credit": recv.id, "amount": 250_000}]})
    await o.b_online(True)
    await _b_state(o, "customers", mine.id, "error")
    await _b_state(o, "vouchers", slip.id, "blocked")
    done = await _cli(o.home, "--lang", "en", "conflicts", DS, "--json")
    assert done.exit_code == 0, (done.stderr, done.exception)
    listed = json.loads(done.stdout)
    by_key = {e["key"]: e for e in listed}
    assert by_key["KH100"]["code"] == "DUPLICATE_KEY"
    assert by_key["KH100"]["actions"] == ["link_existing", "rename", "discard"]
    voucher = by_key["receipt/PT000123"]
    assert (voucher["label"], voucher["name"], voucher["state"], voucher["blocker"]) == (
        "Voucher", "Receipt PT000123", "blocked", "Customer KH100")
    # A voucher named by its number alone is found too (its key is "receipt/PT000123"):
    # here the node answers that a blocked voucher waits for its customer.
    by_number = await _cli(o.home, "--lang", "en", "resolve", DS, "vouchers", "pt000123",
                           "take_cloud")
    assert by_number.exit_code == 1 and by_number.stderr.count("\n") == 1
    assert "NOT_FOUND" not in by_number.stderr, by_number.stderr
    shown = (await _cli(o.home, "--lang", "en", "conflicts", DS)).stdout
    assert "to settle: settle Customer KH100 first, this record then syncs by itself" in shown
    # Settled through the CLI by the customer's code: renamed, the voucher flows by itself.
    renamed = await _cli(o.home, "resolve", DS, "customers", "KH100", "rename",
                         "--new-key", "KH100B")
    assert renamed.exit_code == 0, renamed.stderr
    assert json.loads(renamed.stdout)["id"] == mine.id
    await _b_state(o, "customers", mine.id, "synced")
    await _b_state(o, "vouchers", slip.id, "synced")
    assert (await o.b_store.get("customers", mine.id)).key == "KH100B"


async def test_merge_by_field_choice_and_by_merged_data(offices: Offices) -> None:
    o = offices
    record_id = await _same_field_conflict(o)
    chosen = await _cli(o.home, "resolve", DS, "customers", record_id, "merge",
                        "--choose", "phone=local")
    assert chosen.exit_code == 0, chosen.stderr
    assert json.loads(chosen.stdout)["data"]["phone"] == "0282"

    async def a_has_mine() -> bool:
        return bool((await o.a.store.get("customers", record_id)).data.get("phone") == "0282")

    await eventually(a_has_mine)
    await _b_state(o, "customers", record_id, "synced")
    # A second clash on the same customer, settled with the merged record typed on stdin.
    await o.b_online(False)
    mine = await o.b_store.get("customers", record_id)
    await o.b_store.update("customers", record_id, {**mine.data, "phone": "0284"},
                           if_match=mine.local_rev)
    theirs = await o.a.store.get("customers", record_id)
    await o.a.store.update("customers", record_id, {**theirs.data, "phone": "0285"},
                           if_match=theirs.local_rev)

    async def a_synced() -> bool:
        return (await o.a.store.get("customers", record_id)).sync.state == "synced"

    await eventually(a_synced)
    await o.b_online(True)
    await _b_state(o, "customers", record_id, "conflict")
    typed = json.dumps({**mine.data, "phone": "0286"})
    merged = await _cli(o.home, "resolve", DS, "customers", "KH900", "merge", "--data", "@-",
                        stdin=typed)
    assert merged.exit_code == 0, merged.stderr

    async def a_has_merged() -> bool:
        return bool((await o.a.store.get("customers", record_id)).data.get("phone") == "0286")

    await eventually(a_has_merged)
