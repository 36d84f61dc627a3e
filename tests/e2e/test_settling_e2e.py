"""The field stories of duplicates, blocked dependents and concurrent edits (S5, S6, S9), each
played end to end by a hub, two office nodes and their workstations as real processes: office
B works offline while office A goes on, B comes back, and what clashes is settled the way an
accountant does it (``officesync ws resolve`` or the client library). Every story ends with the
same data at both offices and on the hub.

One hub and two nodes serve the whole module (each story has its own customer codes); office
B is taken offline and back online through its control API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from agent.cloud.client import HubClient
from agent.secrets import NodeSecrets
from protocol.errors import ErrorCode
from protocol.models import HubRecord, Record
from protocol.query import RecordQuery
from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient, WorkstationError

from .hub_procs import HubProcess
from .procs import NO_KEYRING, free_port, run_cli, workstation_env
from .test_sync_e2e import DS, Office, control, status

pytestmark = pytest.mark.e2e
WAIT = 30.0  # seconds any one step of a story may take on a loaded machine


@dataclass
class Stage:
    hub: HubProcess
    a: Office
    b: Office
    home_b: Path                     # office B's workstation profile, for `officesync ws`
    accounts: dict[str, str] = field(default_factory=dict)  # number -> id (same at A and B)

    def ws_b(self, *args: str) -> Any:
        """``officesync ws --lang en ARGS`` at office B: its parsed JSON output."""
        done = run_cli("ws", "--lang", "en", *args, env=workstation_env(self.home_b))
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    tmp = tmp_path_factory.mktemp("settling")
    hub = HubProcess(f"sqlite:///{tmp}/hub.db", free_port(), tmp / "logs", env=NO_KEYRING)
    hub.create_dataset(DS)
    hub.start()
    a = b = None
    try:
        a, b = Office(tmp, "office-a", hub), Office(tmp, "office-b", hub)
        a.node.start()
        b.node.start()
        home_b = tmp / "ws-b"
        code = control(b.node, "POST", "/pairing-code")["code"]
        paired = run_cli("ws", "pair", "--node", b.node.lan_url, "--code", code, "--name",
                         "ke-toan-b", env=workstation_env(home_b))
        assert paired.returncode == 0, paired.stderr
        yield Stage(hub, a, b, home_b)
    finally:
        for office in (a, b):
            if office is not None:
                office.node.kill()
        hub.kill()


async def _paired(office: Office, name: str) -> WorkstationClient:
    code = control(office.node, "POST", "/pairing-code")["code"]
    client = WorkstationClient(office.node.lan_url, language="en")
    await client.pair(code, name)
    return client


@dataclass
class Desk:
    """The stage and one workstation client at each office, for one story."""

    stage: Stage
    a: WorkstationClient
    b: WorkstationClient

    async def offline_b(self) -> None:
        control(self.stage.b.node, "PUT", "/online", {"online": False})
        assert status(self.stage.b.node)["connectivity"] == "offline_by_user"

    async def online_b(self) -> None:
        control(self.stage.b.node, "PUT", "/online", {"online": True})

        async def online() -> bool:
            return bool(status(self.stage.b.node)["connectivity"] == "online")

        await eventually(online, WAIT)

    async def hub_records(self, collection: str, key: str) -> list[HubRecord]:
        secret = NodeSecrets(self.stage.a.node.data_dir).load()
        assert secret is not None
        client = HubClient(self.stage.hub.url, secret[0])
        try:
            page = await client.list_records(DS, collection, RecordQuery(key=key))
        finally:
            await client.close()
        return list(page["items"])

    async def accounts(self) -> dict[str, str]:
        """Two accounts made at A and synced to B (once per module)."""
        if not self.stage.accounts:
            for number, name in (("111", "Tiền mặt"), ("131", "Phải thu")):
                made = await self.a.create(DS, "accounts", {"number": number, "name": name})
                self.stage.accounts[number] = made.record.id
            for record_id in self.stage.accounts.values():
                await synced_at(self.b, "accounts", record_id)
        return self.stage.accounts

    async def voucher(self, ws: WorkstationClient, number: str, customer: str) -> Record:
        ids = await self.accounts()
        made = await ws.create(DS, "vouchers", {
            "type": "receipt", "number": number, "date": "2026-11-20", "customer": customer,
            "description": "Thu tiền hàng",
            "lines": [{"debit": ids["111"], "credit": ids["131"], "amount": 250_000}]})
        return made.record


@pytest.fixture
async def desk(stage: Stage) -> AsyncIterator[Desk]:
    a = await _paired(stage.a, "ke-toan-a")
    b = await _paired(stage.b, "ke-toan-b")
    try:
        found = Desk(stage, a, b)
        await found.online_b()
        yield found
    finally:
        await a.close()
        await b.close()


async def until(ws: WorkstationClient, collection: str, record_id: str,
                holds: Callable[[Record], bool], limit: float = WAIT) -> Record:
    """The record once ``holds`` is true of it (a record gone from the node counts as None →
    never true here; see :func:`gone`)."""
    seen: list[Record] = []

    async def check() -> bool:
        try:
            record = (await ws.get(DS, collection, record_id)).record
        except WorkstationError as err:
            if err.code is ErrorCode.NOT_FOUND:
                return False
            raise
        seen[:] = [record]
        return holds(record)

    try:
        await eventually(check, limit)
    except AssertionError:
        raise AssertionError(f"{collection}/{record_id}: {seen}") from None
    return seen[0]


async def synced_at(ws: WorkstationClient, collection: str, record_id: str,
                    holds: Callable[[Record], bool] = lambda r: True) -> Record:
    return await until(ws, collection, record_id,
                       lambda r: r.sync.state == "synced" and holds(r))


async def in_state(ws: WorkstationClient, collection: str, record_id: str,
                   state: str) -> Record:
    return await until(ws, collection, record_id, lambda r: r.sync.state == state)


async def by_key(ws: WorkstationClient, collection: str, key: str) -> list[Record]:
    return list((await ws.list_records(DS, collection, RecordQuery(key=key))).items)


async def gone(ws: WorkstationClient, collection: str, record_id: str) -> bool:
    try:
        record = (await ws.get(DS, collection, record_id)).record
    except WorkstationError as err:
        if err.code is ErrorCode.NOT_FOUND:
            return True
        raise
    return record.deleted


async def _shared_customer(d: Desk, code: str, **data: str) -> Record:
    """A customer made at A and synced to B."""
    made = await d.a.create(DS, "customers", {"code": code, "name": f"Công ty {code}", **data})
    await synced_at(d.b, "customers", made.record.id)
    return made.record


async def _edit(ws: WorkstationClient, collection: str, record_id: str,
                **changes: Any) -> Record:
    stored = await ws.get(DS, collection, record_id)
    data = {**stored.record.data, **changes}
    return (await ws.update(DS, collection, record_id, data, stored.etag)).record


async def _duplicate_with_voucher(d: Desk, code: str, number: str
                                  ) -> tuple[Record, Record, Record]:
    """S6: customer ``code`` made at A (synced) and, offline, at B with a voucher on it; B
    back online. Returns A's customer, B's customer (refused DUPLICATE_KEY) and B's voucher
    (blocked, naming the customer)."""
    await d.accounts()
    await d.offline_b()
    cloud = (await d.a.create(DS, "customers", {"code": code, "name": "An Phát",
                                                "phone": "0281"})).record
    await synced_at(d.a, "customers", cloud.id)
    mine = (await d.b.create(DS, "customers", {"code": code, "name": "An Phát (văn phòng B)",
                                               "phone": "0282"})).record
    slip = await d.voucher(d.b, number, mine.id)
    await d.online_b()
    refused = await in_state(d.b, "customers", mine.id, "error")
    assert refused.sync.code is ErrorCode.DUPLICATE_KEY
    assert code in (refused.sync.message or "")
    existing = (refused.sync.details or {}).get("existing") or {}
    assert existing.get("id") == cloud.id  # the cloud's record shown beside mine
    blocked = await in_state(d.b, "vouchers", slip.id, "blocked")
    assert f"Customer {code}" in (blocked.sync.message or "")
    return cloud, mine, slip


async def test_a_duplicate_customer_linked_to_the_cloud_one(desk: Desk) -> None:
    d = desk
    cloud, mine, slip = await _duplicate_with_voucher(d, "KH100", "PT910001")
    await d.b.resolve(DS, "customers", mine.id, "link_existing")
    assert await gone(d.b, "customers", mine.id)
    # B's differing fields are offered as an edit of the cloud's customer, not applied.
    kept = (await d.b.get(DS, "customers", cloud.id)).record
    assert (kept.data["name"], kept.data["phone"]) == ("An Phát", "0281")
    offered = (kept.sync.details or {}).get("offered") or {}
    assert offered.get("fields") == {"name": "An Phát (văn phòng B)", "phone": "0282"}
    synced_slip = await synced_at(d.b, "vouchers", slip.id)
    assert synced_slip.data["customer"] == cloud.id
    at_a = await synced_at(d.a, "vouchers", slip.id)
    assert at_a.data["customer"] == cloud.id
    # One KH100 everywhere, the cloud's: B's copy disappeared, nothing was applied silently.
    assert [r.id for r in await by_key(d.b, "customers", "KH100")] == [cloud.id]
    assert [r.id for r in await by_key(d.a, "customers", "KH100")] == [cloud.id]
    on_hub = await d.hub_records("customers", "KH100")
    assert [(r.id, (r.data or {}).get("name")) for r in on_hub] == [(cloud.id, "An Phát")]
    assert all(r.id != mine.id for r in (await d.b.waiting(DS)).items)


async def test_b_duplicate_customer_renamed(desk: Desk) -> None:
    d = desk
    cloud, mine, slip = await _duplicate_with_voucher(d, "KH110", "PT910002")
    await d.b.resolve(DS, "customers", mine.id, "rename", new_key="KH110B")
    renamed = await synced_at(d.b, "customers", mine.id)
    assert renamed.key == "KH110B" and renamed.data["code"] == "KH110B"
    assert (await synced_at(d.b, "vouchers", slip.id)).data["customer"] == mine.id
    assert (await synced_at(d.a, "vouchers", slip.id)).data["customer"] == mine.id
    both = {r.key: r.id for r in await d.hub_records("customers", "KH110")}
    both.update({r.key: r.id for r in await d.hub_records("customers", "KH110B")})
    assert both == {"KH110": cloud.id, "KH110B": mine.id}
    assert (await synced_at(d.a, "customers", mine.id)).data["name"] == "An Phát (văn phòng B)"


async def test_c_discard_refused_while_a_voucher_depends_then_cascade(desk: Desk) -> None:
    d = desk
    cloud, mine, slip = await _duplicate_with_voucher(d, "KH120", "PT910003")
    with pytest.raises(WorkstationError) as refused:
        await d.b.resolve(DS, "customers", mine.id, "discard")
    err = refused.value
    assert err.status in (409, 422)
    listed = json.dumps(err.details, ensure_ascii=False)
    assert slip.id in listed and "PT910003" in listed  # the dependents, named
    assert "cascade" in err.message or "link_existing" in err.message
    still = await d.b.get(DS, "customers", mine.id)  # bad request: nothing changed
    assert (still.record.sync.state, still.record.deleted) == ("error", False)
    assert (await d.b.get(DS, "vouchers", slip.id)).record.sync.state == "blocked"

    await d.b.resolve(DS, "customers", mine.id, "discard", cascade=True)
    assert await gone(d.b, "customers", mine.id) and await gone(d.b, "vouchers", slip.id)
    waiting = {r.id for r in (await d.b.waiting(DS)).items}
    assert not waiting & {mine.id, slip.id}  # nothing stranded
    # The cloud's KH120 is untouched, and the discarded voucher never reached the hub.
    assert [r.id for r in await by_key(d.b, "customers", "KH120")] in ([cloud.id], [])
    assert [r.id for r in await d.hub_records("customers", "KH120")] == [cloud.id]
    assert await d.hub_records("vouchers", "receipt/PT910003") == []


async def test_d_disjoint_edits_merge_by_themselves(desk: Desk) -> None:
    d = desk
    shared = await _shared_customer(d, "KH130", phone="0281", address="1 Lê Lợi")
    await d.offline_b()
    await _edit(d.a, "customers", shared.id, phone="0999")
    await synced_at(d.a, "customers", shared.id, lambda r: r.version == 2)
    await _edit(d.b, "customers", shared.id, address="2 Lê Lợi, Quận 1")
    await d.online_b()

    def both(r: Record) -> bool:
        return (r.data.get("phone"), r.data.get("address")) == ("0999", "2 Lê Lợi, Quận 1")

    at_b = await synced_at(d.b, "customers", shared.id, both)
    await synced_at(d.a, "customers", shared.id, both)
    on_hub = await d.hub_records("customers", "KH130")
    assert [(r.data or {}).get("address") for r in on_hub] == ["2 Lê Lợi, Quận 1"]
    assert [(r.data or {}).get("phone") for r in on_hub] == ["0999"]
    assert at_b.version == on_hub[0].version == 3


async def test_e_same_field_clash_settled_three_ways(desk: Desk) -> None:
    d = desk
    codes = ("KH140", "KH141", "KH142")
    shared = {c: await _shared_customer(d, c, phone="0281") for c in codes}
    await d.offline_b()
    for c in codes:
        await _edit(d.a, "customers", shared[c].id, name=f"{c} sửa ở A", phone="0111")
        await synced_at(d.a, "customers", shared[c].id, lambda r: r.version == 2)
        await _edit(d.b, "customers", shared[c].id, name=f"{c} sửa ở B", phone="0222")
    await d.online_b()
    for c in codes:
        clash = await in_state(d.b, "customers", shared[c].id, "conflict")
        assert clash.sync.code is ErrorCode.STALE_VERSION
        assert c in (clash.sync.message or "")
    seen = await d.b.conflict(DS, "customers", shared["KH140"].id)
    assert sorted(seen["fields"]) == ["name", "phone"]
    assert (seen["base"]["name"], seen["local"]["name"], seen["cloud"]["name"]) == (
        "Công ty KH140", "KH140 sửa ở B", "KH140 sửa ở A")
    listed = {e["key"]: e for e in d.stage.ws_b("conflicts", DS, "--json")}
    assert {f["field"]: (f["local"], f["cloud"]) for f in listed["KH141"]["fields"]} == {
        "name": ("KH141 sửa ở B", "KH141 sửa ở A"), "phone": ("0222", "0111")}

    took = d.stage.ws_b("resolve", DS, "customers", "KH140", "take_cloud")
    assert (took["data"]["name"], took["sync"]["state"]) == ("KH140 sửa ở A", "synced")
    d.stage.ws_b("resolve", DS, "customers", "KH141", "keep_local")
    d.stage.ws_b("resolve", DS, "customers", "KH142", "merge", "--choose", "name=local",
                 "--choose", "phone=cloud")
    expected = {"KH140": ("KH140 sửa ở A", "0111"), "KH141": ("KH141 sửa ở B", "0222"),
                "KH142": ("KH142 sửa ở B", "0111")}
    for c, (name, phone) in expected.items():

        def settled(r: Record, name: str = name, phone: str = phone) -> bool:
            return (r.data.get("name"), r.data.get("phone")) == (name, phone)

        at_b = await synced_at(d.b, "customers", shared[c].id, settled)
        at_a = await synced_at(d.a, "customers", shared[c].id, settled)
        assert at_a.version == at_b.version
        assert [((r.data or {}).get("name"), (r.data or {}).get("phone"))
                for r in await d.hub_records("customers", c)] == [(name, phone)]


async def test_f_deleted_at_a_edited_at_b_restored(desk: Desk) -> None:
    d = desk
    shared = await _shared_customer(d, "KH150", phone="0281")
    await d.offline_b()
    stored = await d.a.get(DS, "customers", shared.id)
    await d.a.delete(DS, "customers", shared.id, stored.etag)
    await synced_at(d.a, "customers", shared.id, lambda r: r.deleted)
    await _edit(d.b, "customers", shared.id, phone="0909")
    await d.online_b()
    clash = await in_state(d.b, "customers", shared.id, "conflict")
    assert clash.sync.code is ErrorCode.RECORD_DELETED
    assert "KH150" in (clash.sync.message or "")
    restored = d.stage.ws_b("resolve", DS, "customers", "KH150", "restore")
    assert restored["id"] == shared.id and restored["deleted"] is False

    def back(r: Record) -> bool:
        return not r.deleted and r.data.get("phone") == "0909"

    await synced_at(d.b, "customers", shared.id, back)
    await synced_at(d.a, "customers", shared.id, back)
    on_hub = await d.hub_records("customers", "KH150")
    assert [(r.id, r.deleted, (r.data or {}).get("phone")) for r in on_hub] == [
        (shared.id, False, "0909")]


async def test_g_voucher_posted_at_a_edited_at_b(desk: Desk) -> None:
    d = desk
    customer = await _shared_customer(d, "KH160")
    slip = await d.voucher(d.a, "PT910007", customer.id)
    await synced_at(d.b, "vouchers", slip.id)
    await d.offline_b()
    stored = await d.a.get(DS, "vouchers", slip.id)
    await d.a.post(DS, "vouchers", slip.id, stored.etag)
    await synced_at(d.a, "vouchers", slip.id, lambda r: r.data.get("posted") is True)
    await _edit(d.b, "vouchers", slip.id, description="Thu tiền hàng (sửa ở B)")
    await d.online_b()
    clash = await in_state(d.b, "vouchers", slip.id, "conflict")
    assert (clash.sync.details or {}).get("kind") == "posted"
    assert "posted/unposted at another office" in (clash.sync.message or "")
    async with WorkstationClient(d.b.node_url, d.b.token, language="vi") as vi:
        worded = (await vi.get(DS, "vouchers", slip.id)).record.sync.message or ""
    assert "chứng từ đã được ghi sổ/bỏ ghi ở văn phòng khác" in worded
    assert "PT910007" in worded
    # Nothing was merged behind the accountant's back: the hub still has A's posted voucher.
    hub_copy = await d.hub_records("vouchers", "receipt/PT910007")
    assert [(r.data or {}).get("posted") for r in hub_copy] == [True]
    assert [(r.data or {}).get("description") for r in hub_copy] == ["Thu tiền hàng"]
