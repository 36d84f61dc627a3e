"""The XML exchange format (agent/xmlio.py, docs/xml.md): round trip, references by key,
duplicates (skip / renumber), schema errors with reasons, bombs, the size limit and the memory
bound of the parser."""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import xmlio
from agent.store import DatasetStore, StoreManager
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError
from tests.agent.sync.conftest import eventually

MB = 1024 * 1024


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[StoreManager]:
    mgr = StoreManager(tmp_path, language="en")
    await mgr.open(["cty-abc", "cty-xyz"])
    yield mgr
    await mgr.close()


async def _export(store: DatasetStore, scope: xmlio.Scope = "pending", **dates: str) -> bytes:
    return b"".join([c async for c in xmlio.export_chunks(store, scope, node="n1", **dates)])


def _parse(body: bytes, limit: int = 8 * MB) -> xmlio.ParsedFile:
    return xmlio.parse_chunks([body], ACCOUNTING_PACK, limit)


async def _import(store: DatasetStore, body: bytes, duplicates: xmlio.Duplicates = "skip"
                  ) -> xmlio.ImportReport:
    return await xmlio.import_file(store, _parse(body), duplicates)


async def _books(store: DatasetStore) -> dict[str, Any]:
    """Two accounts, a customer and two vouchers (one posted) referring to them."""
    cash = await store.create("accounts", {"number": "111", "name": "Tiền mặt"})
    debtors = await store.create("accounts", {"number": "131", "name": "Phải thu",
                                              "parent": cash.id})
    kh = await store.create("customers", {"code": "KH001", "name": "Công ty A & B <VN>"})
    lines = [{"debit": cash.id, "credit": debtors.id, "amount": 1500000}]
    v1 = await store.create("vouchers", {"type": "receipt", "date": "2026-11-02",
                                         "customer": kh.id, "lines": lines,
                                         "description": "Thu tiền \"hóa đơn\" 01"})
    v2 = await store.create("vouchers", {"type": "receipt", "date": "2026-11-03",
                                         "customer": kh.id, "lines": lines})
    await store.post("vouchers", v2.id, if_match=v2.local_rev)
    return {"cash": cash, "debtors": debtors, "kh": kh, "v1": v1, "v2": v2}


async def _all(store: DatasetStore, collection: str) -> list[Any]:
    return (await store.query(collection)).items


async def test_round_trip_into_another_dataset(manager: StoreManager) -> None:
    src, dst = manager.get("cty-abc"), manager.get("cty-xyz")
    books = await _books(src)
    body = await _export(src)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert b'key="KH001"' in body  # references carry the target's key too

    report = await _import(dst, body)
    assert report.counts == {"created": 5, "duplicate_skipped": 0, "renumbered": 0,
                             "failed": 0}, report
    for collection in ("accounts", "customers", "vouchers"):
        a = {r.id: (r.key, r.data) for r in await _all(src, collection)}
        b = {r.id: (r.key, r.data) for r in await _all(dst, collection)}
        assert a == b  # same ids, keys and data, the posted flag and the escaped text too
    v2 = await dst.get("vouchers", books["v2"].id)
    assert v2.data["posted"] is True
    assert await dst.outbox_size() == 6  # every record written with its op (+ one post): syncs


async def test_import_twice_doubles_nothing_even_with_renumber(manager: StoreManager) -> None:
    src, dst = manager.get("cty-abc"), manager.get("cty-xyz")
    await _books(src)
    body = await _export(src)
    await _import(dst, body)
    outbox = await dst.outbox_size()
    for duplicates in ("skip", "renumber"):
        report = await _import(dst, body, duplicates)  # type: ignore[arg-type]
        assert report.counts["duplicate_skipped"] == 5, report
        assert report.counts["created"] == report.counts["renumbered"] == 0
    assert len(await _all(dst, "vouchers")) == 2
    assert await dst.outbox_size() == outbox


async def test_duplicate_numbers_skip_or_renumber(manager: StoreManager) -> None:
    src, dst = manager.get("cty-abc"), manager.get("cty-xyz")
    await _books(src)  # vouchers PT000001, PT000002 and KH001 in cty-abc
    body = await _export(src)
    # cty-xyz has its own KH001 (another id) and its own PT000001 / PT000002.
    own = await _books(dst)

    skipped = await _import(dst, body, "skip")
    vouchers = [i for i in skipped.items if i.collection == "vouchers"]
    assert {i.outcome for i in vouchers} == {"duplicate_skipped"}
    kh = next(i for i in skipped.items if i.collection == "customers")
    assert kh.outcome == "duplicate_skipped" and kh.record_id == own["kh"].id
    assert "KH001" in (kh.reason or {})["en"]
    assert len(await _all(dst, "vouchers")) == 2

    renumbered = await _import(dst, body, "renumber")
    vouchers = [i for i in renumbered.items if i.collection == "vouchers"]
    assert [(i.outcome, i.old_number, i.new_number) for i in vouchers] == [
        ("renumbered", "PT000001", "PT000003"), ("renumbered", "PT000002", "PT000004")]
    stored = {r.key: r for r in await _all(dst, "vouchers")}
    assert set(stored) == {f"receipt/PT00000{n}" for n in range(1, 5)}
    # the renumbered vouchers point at the dataset's own KH001, not at the file's
    assert stored["receipt/PT000003"].data["customer"] == own["kh"].id


async def test_references_by_key_and_catalog_after_voucher(manager: StoreManager) -> None:
    dst = manager.get("cty-xyz")
    cash = await dst.create("accounts", {"number": "111", "name": "Tiền mặt"})
    await dst.create("accounts", {"number": "131", "name": "Phải thu"})
    file_kh = "0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0001"
    body = f"""<?xml version="1.0"?>
<officesync version="1" dataset="other">
  <record collection="vouchers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0002" key="receipt/PT9">
    <field name="type">receipt</field><field name="number">PT9</field>
    <field name="date">2026-11-05</field>
    <ref name="customer" id="{file_kh}" key="KH777"/>
    <list name="lines"><item>
      <ref name="debit" collection="accounts" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0099"
           key="111"/>
      <ref name="credit" key="131"/>
      <field name="amount" type="int">5000</field>
    </item></list>
  </record>
  <record collection="customers" id="{file_kh}" key="KH777">
    <field name="code">KH777</field><field name="name">Khách mới</field>
  </record>
</officesync>""".encode()
    report = await _import(dst, body)
    assert [i.outcome for i in report.items] == ["created", "created"], report
    voucher = (await _all(dst, "vouchers"))[0]
    assert voucher.data["customer"] == file_kh
    assert voucher.data["lines"][0]["debit"] == cash.id  # another dataset's id: by key


async def test_schema_errors_fail_that_record_with_a_reason(manager: StoreManager) -> None:
    dst = manager.get("cty-xyz")
    good = "0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0010"
    body = f"""<officesync version="1">
  <record collection="customers" id="{good}"><field name="code">KH1</field>
    <field name="name">Tốt</field></record>
  <record collection="suppliers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0011"/>
  <record collection="customers" id="KH2"><field name="code">KH2</field></record>
  <record collection="customers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0012">
    <field name="code">KH3</field><colour>red</colour></record>
  <record collection="items" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0013">
    <field name="code">VT1</field><field name="name">x</field>
    <field name="price" type="int">mười</field></record>
  <record collection="customers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0014">
    <field name="code">KH4</field></record>
  <record collection="vouchers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0015">
    <field name="type">receipt</field><field name="date">2026-11-05</field>
    <list name="lines"><item><ref name="debit" key="999"/><ref name="credit" key="998"/>
    <field name="amount" type="int">1</field></item></list></record>
</officesync>""".encode()
    report = await _import(dst, body)
    outcomes = [(i.outcome, i.code) for i in report.items]
    assert outcomes[0] == ("created", None)
    assert all(o == "failed" for o, _ in outcomes[1:]), report
    reasons = [(i.reason or {})["en"] for i in report.items[1:]]
    assert "no collection suppliers" in reasons[0]
    assert "not a lower-case UUID" in reasons[1]
    assert "<colour> is not allowed inside <record>" in reasons[2]
    assert "'mười' is not an integer" in reasons[3]
    assert "Customer name is required" in reasons[4]  # the pack's own wording
    assert "999 is neither in this dataset nor in the file" in reasons[5]
    assert report.items[6].code == "MISSING_REFERENCE"
    assert all((i.reason or {})["vi"] for i in report.items[1:])
    assert [r.key for r in await _all(dst, "customers")] == ["KH1"]  # the rest: nothing


@pytest.mark.parametrize(("body", "what"), [
    (b"not xml at all", "not well-formed XML at line 1"),
    (b"<officesync version='1'><record", "not well-formed XML"),
    (b"<export version='1'/>", "root element must be <officesync>"),
    (b"<officesync version='7'/>", "format version 7 is not supported"),
    (b"", "the file is empty"),
])
def test_a_file_that_is_not_ours_is_refused_whole(body: bytes, what: str) -> None:
    with pytest.raises(xmlio.XmlFileError) as caught:
        _parse(body)
    assert caught.value.code is ErrorCode.VALIDATION_FAILED
    assert what in str(caught.value)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<officesync version="1"><record collection="customers" id="x">
<field name="name">&lol9;</field></record></officesync>"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<officesync version="1"><record collection="customers" id="x">
<field name="name">&xxe;</field></record></officesync>"""
UNDECLARED = b"<officesync version='1'><record collection='customers' id='x'>" \
             b"<field name='name'>&xxe;</field></record></officesync>"


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL, UNDECLARED])
def test_xml_bombs_and_entities_are_refused(body: bytes) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(xmlio.XmlFileError):
            _parse(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MB


def _endless(size: int) -> Iterator[bytes]:
    """A well-formed start, then records without end: ``size`` bytes made on the fly."""
    yield b'<officesync version="1">'
    record = (b'<record collection="customers" id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0010">'
              b'<field name="code">KH1</field><field name="name">' + b"x" * 4000 +
              b"</field></record>")
    sent = 0
    while sent < size:
        yield record * 16
        sent += len(record) * 16


def test_an_oversized_stream_is_refused_with_bounded_memory() -> None:
    """1 GB offered as a stream (no size known in advance): refused at the limit, having
    held a few MiB at most, in well under the time reading it all would take."""
    tracemalloc.start()
    began = time.monotonic()
    try:
        with pytest.raises(ProtocolError) as caught:
            xmlio.parse_chunks(_endless(1024 * MB), ACCOUNTING_PACK, 4 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert caught.value.details == {"limit_bytes": 4 * MB}
    assert peak < 24 * MB, peak
    assert time.monotonic() - began < 30


def test_a_large_text_node_is_bounded_by_the_limit() -> None:
    """One field of 64 MiB (no markup to stop at) is refused at 4 MiB."""
    def huge() -> Iterator[bytes]:
        yield b'<officesync version="1"><record collection="customers" ' \
              b'id="0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0010"><field name="name">'
        for _ in range(64):
            yield b"y" * MB

    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError) as caught:
            xmlio.parse_chunks(huge(), ACCOUNTING_PACK, 4 * MB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert peak < 24 * MB, peak


def test_a_1_gb_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    with open(path, "wb") as f:  # sparse: 1 GiB on paper, nothing on disk
        f.truncate(1024 * MB)
    began = time.monotonic()
    with pytest.raises(ProtocolError) as caught:
        xmlio.parse_path(path, ACCOUNTING_PACK, 8 * MB)
    assert caught.value.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert time.monotonic() - began < 1
    assert os.path.getsize(path) == 1024 * MB


async def test_export_range_takes_the_dates_and_the_catalogs_they_use(
        manager: StoreManager) -> None:
    src = manager.get("cty-abc")
    await _books(src)
    parsed = _parse(await _export(src, "range", date_from="2026-11-03",
                                  date_to="2026-11-30"))
    keys = sorted((r.collection, r.key) for r in parsed.records)
    # the voucher of 3 Nov, its customer and accounts (131's parent 111 too); not 2 Nov
    assert keys == [("accounts", "111"), ("accounts", "131"), ("customers", "KH001"),
                    ("vouchers", "receipt/PT000002")]


def test_scope_and_dates_are_checked() -> None:
    for args, field in [(("all", None, None), "scope"), (("range", None, "2026-01-01"),
                        "date_from"), (("range", "2026-13-01", "2026-12-01"), "date_from"),
                        (("range", "2026-02-01", "2026-01-01"), "date_from")]:
        with pytest.raises(ProtocolError) as caught:
            xmlio.check_scope(*args)
        assert caught.value.code is ErrorCode.VALIDATION_FAILED
        assert caught.value.details["errors"][0]["field"] == field
    assert xmlio.check_scope(None, None, None) == ("pending", None, None)


# --- the inbox (agent/inbox.py) ---------------------------------------------------------------


class _Ctx:
    """What the inbox uses of a NodeContext."""

    def __init__(self, manager: StoreManager, tmp_path: Path, **inbox: Any) -> None:
        from agent.config import Config
        from agent.supervisor import Supervisor

        self.config = Config.model_validate({
            "node": {"language": "en"}, "datasets": [{"id": "cty-abc"}, {"id": "cty-xyz"}],
            "inbox": {"dir": str(tmp_path / "inbox"), "dataset": "cty-xyz", "settle_s": 0,
                      **inbox}})
        self.stores = manager
        self.supervisor = Supervisor(base=0.01, cap=0.05)


def _inbox(ctx: _Ctx) -> Any:
    from agent.inbox import Inbox, inbox_dir

    root = inbox_dir(ctx.config)  # type: ignore[arg-type]
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)
    return Inbox(root, ctx)  # type: ignore[arg-type]


async def test_inbox_crash_mid_import_leaves_the_file_and_the_rerun_completes_it(
        manager: StoreManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = manager.get("cty-abc"), manager.get("cty-xyz")
    await _books(src)
    ctx = _Ctx(manager, tmp_path)
    inbox = _inbox(ctx)
    (inbox.root / "books.xml").write_bytes(await _export(src))

    real_create, calls = DatasetStore.create, 0

    async def create_then_power_cut(self: DatasetStore, *args: Any, **kw: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("power cut")
        return await real_create(self, *args, **kw)

    monkeypatch.setattr(DatasetStore, "create", create_then_power_cut)
    with pytest.raises(RuntimeError):
        await inbox.scan()
    assert (inbox.root / "books.xml").exists()  # not moved, not lost
    assert not (inbox.root / "done").exists()
    monkeypatch.setattr(DatasetStore, "create", real_create)

    await inbox.scan()  # the next run (after the restart)
    assert (inbox.root / "done" / "books.xml").exists()
    report = (inbox.root / "done" / "books.xml.report.txt").read_text(encoding="utf-8")
    assert "created: 3, duplicate, skipped: 2" in report, report
    for collection, n in (("accounts", 2), ("customers", 1), ("vouchers", 2)):
        assert len(await _all(dst, collection)) == n  # each record once


async def test_inbox_refuses_a_too_large_file_unread_and_a_file_without_dataset(
        manager: StoreManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _Ctx(manager, tmp_path, max_file_mb=1, dataset=None)
    inbox = _inbox(ctx)
    big = inbox.root / "cty-abc" / "big.xml"
    big.parent.mkdir()
    big.touch()
    os.truncate(big, 2 * MB)
    (inbox.root / "where.xml").write_bytes(b"<officesync version='1'/>")
    await inbox.scan()
    reason = (big.parent / "failed" / "big.xml.report.txt").read_text(encoding="utf-8")
    assert "too large (limit 1 MiB)" in reason
    where = (inbox.root / "failed" / "where.xml.report.txt").read_text(encoding="utf-8")
    assert "which dataset is not known" in where and "cty-abc, cty-xyz" in where


async def test_inbox_waits_for_a_file_still_being_written(
        manager: StoreManager, tmp_path: Path) -> None:
    clock = [0.0]
    ctx = _Ctx(manager, tmp_path, settle_s=1.0)
    inbox = _inbox(ctx)
    inbox.clock = lambda: clock[0]
    path = inbox.root / "slow.xml"
    path.write_bytes(b"<officesync version='1'>")  # half written
    assert await inbox.scan() is True  # settling
    clock[0] = 0.5
    path.write_bytes(b"<officesync version='1'></officesync>")
    os.utime(path, ns=(1, 1))  # a new size and time: its clock starts again
    assert await inbox.scan() is True
    clock[0] = 1.2
    assert await inbox.scan() is True
    clock[0] = 1.6
    assert await inbox.scan() is False
    assert (inbox.root / "done" / "slow.xml").exists()


async def test_a_failing_inbox_is_restarted_and_shown_as_failing(
        manager: StoreManager, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from agent.inbox import LOOP_NAME, start_inbox

    (tmp_path / "inbox").write_text("a file where the folder should be")
    ctx = _Ctx(manager, tmp_path)
    stop = start_inbox(ctx)  # type: ignore[arg-type]
    assert stop is not None
    try:
        async def restarted() -> bool:
            task = ctx.supervisor.get(LOOP_NAME)
            return task is not None and task.total_failures >= 3

        await eventually(restarted)
        failing = ctx.supervisor.failing()
        assert [f["name"] for f in failing] == [LOOP_NAME]
        logged = [r for r in caplog.records if r.levelname == "ERROR" and LOOP_NAME in
                  r.getMessage()]
        assert len(logged) == 1  # once per failure streak, not once per restart
    finally:
        await stop()


async def test_the_report_reads_in_the_node_language(manager: StoreManager) -> None:
    src, dst = manager.get("cty-abc"), manager.get("cty-xyz")
    await _books(src)
    await _books(dst)
    report = await _import(dst, await _export(src), "renumber")
    vi = xmlio.report_text(report, "vi", "sai.xml")
    assert "số chứng từ trùng: đánh số mới" in vi
    assert "Chứng từ receipt/PT000003: đánh số mới (PT000001 → PT000003)" in vi
    assert "Khách hàng KH001: trùng, bỏ qua — Khách hàng KH001 đã có trong dữ liệu này" in vi
    en = xmlio.report_text(report, "en")
    assert "Voucher receipt/PT000004: renumbered (PT000002 → PT000004)" in en
