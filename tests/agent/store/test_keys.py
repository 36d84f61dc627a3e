"""Look-alike keys on the node: one key per code however it is typed (S6 duplicate check),
invisible characters refused, stored keys migrated to the comparison form."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from agent.store import DatasetStore, StoreManager
from agent.store.migrate import migrate
from agent.store.syncing import _rejection_params
from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode, ProtocolError, render
from protocol.query import RecordQuery


@pytest.mark.parametrize("typed", ["kh001", "ＫＨ００１", " KH001", "Kh001"])
async def test_look_alikes_are_duplicates(store: DatasetStore, typed: str) -> None:
    first = await store.create("customers", {"code": "KH001", "name": "A"})
    with pytest.raises(ProtocolError) as err:
        await store.create("customers", {"code": typed, "name": "B"})
    assert err.value.code is ErrorCode.DUPLICATE_KEY
    assert err.value.details["existing"]["id"] == first.id


@pytest.mark.parametrize("typed", ["KH001\u200b", "KH\x00001", "\u2060KH001"])
async def test_invisible_characters_are_refused(store: DatasetStore, typed: str) -> None:
    with pytest.raises(ProtocolError) as err:
        await store.create("customers", {"code": typed, "name": "B"})
    assert err.value.code is ErrorCode.VALIDATION_FAILED
    assert "U+" in render(err.value.code, "vi", err.value.params)
    assert sum((await store.sync_counts()).values()) == 0


async def test_a_code_is_stored_in_its_normal_form_and_found_however_typed(
    store: DatasetStore,
) -> None:
    record = await store.create("customers", {"code": "ｋｈ００２", "name": "A"})
    assert (record.key, record.data["code"]) == ("KH002", "KH002")
    for typed in ("kh002", "KH002", "ＫＨ００２ "):
        page = await store.query("customers", RecordQuery(key=typed))
        assert [r.id for r in page.items] == [record.id], typed


async def test_renaming_to_a_look_alike_of_another_code_is_a_duplicate(
    store: DatasetStore,
) -> None:
    await store.create("customers", {"code": "KH001", "name": "A"})
    other = await store.create("customers", {"code": "KH002", "name": "B"})
    with pytest.raises(ProtocolError) as err:
        await store.update("customers", other.id, {"code": "kh001", "name": "B"},
                           if_match=other.local_rev)
    assert err.value.code is ErrorCode.DUPLICATE_KEY


async def test_a_code_where_an_id_goes_is_the_record_of_that_code(store: DatasetStore) -> None:
    # A code typed where an id goes is resolved to its record's id (the node's write path;
    # tests/agent/store/test_references_by_code.py has the rest).
    customer = await store.create("customers", {"code": "KH001", "name": "Cong ty A"})
    order = await store.create("sales_orders",
                               {"number": "DH1", "date": "2026-01-05", "customer": "kh001"})
    assert order.data["customer"] == customer.id


def _old_row(conn: sqlite3.Connection, rid: str, collection: str, key: str,
             data: dict[str, Any]) -> None:
    import orjson

    conn.execute(
        "INSERT INTO records (id, collection, key, data, deleted, version, local_rev, "
        "sync_state, date, updated_at) VALUES (?, ?, ?, ?, 0, 3, 1, 'synced', NULL, 'x')",
        (rid, collection, key, orjson.dumps(data).decode()))


async def test_migration_puts_stored_keys_in_comparison_form(tmp_path: Path) -> None:
    path = tmp_path / "datasets" / "cty-abc.db"
    path.parent.mkdir()
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, target=2)
    ids = [f"{n:08d}-1111-4111-8111-111111111111" for n in range(4)]
    _old_row(conn, ids[0], "customers", "kh001", {"code": "kh001", "name": "Old"})
    _old_row(conn, ids[1], "items", "ＶＴ１", {"code": "ＶＴ１", "name": "Old"})
    _old_row(conn, ids[2], "vouchers", "receipt/pt9",
             {"type": "receipt", "number": "pt9", "date": "2026-01-05", "lines": []})
    _old_row(conn, ids[3], "customers", "KH002\u200b", {"code": "KH002\u200b", "name": "Z"})
    assert migrate(conn, target=3) == [3]
    keys = dict(conn.execute("SELECT id, key FROM records").fetchall())
    assert [keys[i] for i in ids] == ["KH001", "VT1", "receipt/PT9", "KH002"]
    assert conn.execute("SELECT data FROM records WHERE id = ?", (ids[0],)).fetchone()[0] \
        == '{"code":"kh001","name":"Old"}'  # what was typed is kept
    conn.close()
    mgr = StoreManager(tmp_path)
    await mgr.open(["cty-abc"])
    try:
        with pytest.raises(ProtocolError) as err:
            await mgr.get("cty-abc").create("customers", {"code": "KH001", "name": "New"})
        assert err.value.code is ErrorCode.DUPLICATE_KEY
    finally:
        await mgr.close()


def test_a_hub_refusal_is_worded_in_the_readers_language() -> None:
    reason = {"vi": "Số chứng từ là bắt buộc", "en": "Voucher number is required"}
    params = _rejection_params(ACCOUNTING_PACK, "vouchers", ErrorCode.VALIDATION_FAILED,
                               {"params": {"reason": reason}},
                               "Dữ liệu không hợp lệ: Số chứng từ là bắt buộc")
    assert render(ErrorCode.VALIDATION_FAILED, "en", params) == \
        "Invalid data: Voucher number is required"
    assert render(ErrorCode.VALIDATION_FAILED, "vi", params) == \
        "Dữ liệu không hợp lệ: Số chứng từ là bắt buộc"
    older_hub = _rejection_params(ACCOUNTING_PACK, "vouchers", ErrorCode.VALIDATION_FAILED,
                                  {}, "Dữ liệu không hợp lệ: Số chứng từ là bắt buộc")
    assert render(ErrorCode.VALIDATION_FAILED, "vi", older_hub).count("Dữ liệu") == 1
