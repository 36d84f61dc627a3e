"""A first download shows its progress: control /status (datasets[].download), the
``officesync status`` line and the tray's dataset line, in Vietnamese and English."""

from __future__ import annotations

import io
import uuid

import pytest
from rich.console import Console

from agent.app import NodeContext
from agent.cli import render_status
from protocol.local import Download, parse_status
from protocol.models import Change, ChangesPage, SnapshotPage
from protocol.query import RecordQuery
from tests.agent.conftest import DATASET, AppClient
from tests.tray.helpers import status_doc
from tray.viewmodel import build_menu

STATUS = "/control/v1/status"


def test_the_progress_in_words() -> None:
    both = Download(done=420_000, total=1_000_000)
    assert both.message_in("vi") == "đang tải 420.000 / 1.000.000 bản ghi"
    assert both.message_in("en") == "downloading 420,000 / 1,000,000 records"
    assert Download(done=1500).message_in("vi") == "đang tải 1.500 bản ghi"
    assert Download(done=1500).message_in("en") == "downloading 1,500 records"


def _downloading_status() -> dict[str, object]:
    doc = status_doc(datasets={"cty-abc": {"synced": 420_000}})
    doc["datasets"][0]["download"] = {"done": 420_000, "total": 1_000_000}  # type: ignore[index]
    return doc


def test_status_and_tray_lines_show_the_download() -> None:
    status = parse_status(_downloading_status())
    out = io.StringIO()
    render_status(status, "vi", Console(file=out, width=80))
    assert "cty-abc: đang tải 420.000 / 1.000.000 bản ghi" in out.getvalue()
    labels = [entry.text for entry in build_menu(status, "en")]
    assert "cty-abc: downloading 420,000 / 1,000,000 records" in labels
    # an older document without the field: the usual counts
    plain = parse_status(status_doc(datasets={"cty-abc": {"synced": 3}}))
    assert plain.datasets[0].download is None
    assert not any("downloading" in entry.text for entry in build_menu(plain, "en"))


def test_status_shows_the_search_backlog_in_both_languages() -> None:
    doc = status_doc(datasets={"cty-abc": {"synced": 1_000_000}})
    doc["datasets"][0]["search_backlog"] = 420_000  # type: ignore[index]
    status = parse_status(doc)
    for lang, line in (("vi", "cty-abc: đang lập chỉ mục tìm kiếm: còn 420.000 bản ghi"),
                       ("en", "cty-abc: building the search index: 420,000 records to go")):
        out = io.StringIO()
        render_status(status, lang, Console(file=out, width=200))
        assert line in out.getvalue()
        tray = [entry.text for entry in build_menu(status, lang)]  # the tray's dataset line
        assert any(t.startswith("cty-abc: ") and line[len("cty-abc: "):] in t for t in tray)
    out = io.StringIO()
    render_status(parse_status(status_doc(datasets={"cty-abc": {"synced": 3}})), "en",
                  Console(file=out, width=200))
    assert "search index" not in out.getvalue()


async def test_control_status_counts_a_first_download(
    control: AppClient, ctx: NodeContext, control_headers: dict[str, str]
) -> None:
    store = ctx.stores.get(DATASET)
    changes = [Change(seq=i + 1, collection="customers", id=str(uuid.uuid4()), version=1,
                      data={"code": f"KH{i}", "name": f"Công ty {i}"}) for i in range(30)]
    await store.apply_changes(ChangesPage(changes=changes[:20], last_seq=20, has_more=True),
                              "node")
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] == {"done": 20, "total": None}
    await store.apply_changes(ChangesPage(changes=changes[20:], last_seq=30, has_more=False),
                              "node")
    # its 30 records wait for the search indexes (the first slice is only queued to the
    # writer when the page's write returns)
    assert store.search_backlog == 30
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] is None
    assert status["datasets"][0]["counts"]["synced"] == 30
    await store.search_indexed()  # then the status says none is left
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["search_backlog"] is None
    found = await store.query("customers", RecordQuery(q="Công ty 17"))
    assert [r.key for r in found.items] == ["KH17"]


async def test_the_dashboard_summary_words_a_first_download(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.store import DatasetStore
    held: list[int] = []  # the search backlog is held back here, to be read before it ends
    monkeypatch.setattr(DatasetStore, "_index_backlog_soon",
                        lambda self, left: (held.append(left),
                                            setattr(self, "search_backlog", left)))
    store = ctx.stores.get(DATASET)
    changes = [Change(seq=i + 1, collection="customers", id=str(uuid.uuid4()), version=1,
                      data={"code": f"KH{i}", "name": f"Công ty {i}"}) for i in range(1201)]
    await store.apply_changes(ChangesPage(changes=changes[:1200], last_seq=1200,
                                          has_more=True), "n")
    url = f"/api/v1/datasets/{DATASET}/sync"
    summary = await (await lan.get(url, headers=auth)).json()
    assert summary["download"] == {
        "done": 1200, "total": None,
        "message": {"vi": "đang tải 1.200 bản ghi", "en": "downloading 1,200 records"}}
    await store.apply_changes(ChangesPage(changes=changes[1200:], last_seq=1201,
                                          has_more=False), "n")
    summary = await (await lan.get(url, headers=auth)).json()
    assert summary["download"] is None
    assert held == [1201]
    assert summary["search_backlog"] == {"left": 1201, "message": {
        "vi": "đang lập chỉ mục tìm kiếm: còn 1.201 bản ghi (vẫn tìm được, chậm hơn)",
        "en": "building the search index: 1,201 records to go (search works, slower)"}}


async def test_a_download_whose_last_page_is_empty_ends_too(ctx: NodeContext) -> None:
    store = ctx.stores.get(DATASET)
    changes = [Change(seq=i + 1, collection="customers", id=str(uuid.uuid4()), version=1,
                      data={"code": f"KH{i}", "name": f"Công ty {i}"}) for i in range(10)]
    await store.apply_changes(ChangesPage(changes=changes, last_seq=10, has_more=True), "n")
    assert store.downloading
    assert await store.finish_download()  # what the pull does once it has caught up
    assert not store.downloading
    page = await store.query("customers", RecordQuery(q="Công ty 7"))
    assert [r.key for r in page.items] == ["KH7"]


async def test_the_total_comes_from_the_feeds_head(
    control: AppClient, lan: AppClient, ctx: NodeContext, control_headers: dict[str, str],
    auth: dict[str, str]
) -> None:
    """A hub that says its head (``head_seq``): the records held out of those plus what the
    feed holds past the page applied, on /status and the dashboard's summary."""
    store = ctx.stores.get(DATASET)
    changes = [Change(seq=i + 1, collection="customers", id=str(uuid.uuid4()), version=1,
                      data={"code": f"KH{i}", "name": f"Công ty {i}"}) for i in range(3000)]
    await store.apply_changes(ChangesPage(changes=changes[:1200], last_seq=1200,
                                          has_more=True, head_seq=3000), "n")
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] == {"done": 1200, "total": 3000}
    summary = await (await lan.get(f"/api/v1/datasets/{DATASET}/sync", headers=auth)).json()
    assert summary["download"]["message"] == {"vi": "đang tải 1.200 / 3.000 bản ghi",
                                              "en": "downloading 1,200 / 3,000 records"}
    await store.apply_changes(ChangesPage(changes=changes[1200:2500], last_seq=2500,
                                          has_more=True, head_seq=3000), "n")
    assert store.download_progress(2500) == Download(done=2500, total=3000)
    await store.apply_changes(ChangesPage(changes=changes[2500:], last_seq=3000,
                                          has_more=False, head_seq=3000), "n")
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] is None
    assert status["datasets"][0]["counts"]["synced"] == 3000


async def test_a_snapshot_download_counts_out_of_the_hubs_total(
    control: AppClient, ctx: NodeContext, control_headers: dict[str, str]
) -> None:
    """Through the hub's snapshot the total is the hub's count of records (its first page);
    the cursor stays until the last page, which sets it to the first page's head."""
    store = ctx.stores.get(DATASET)
    ids = sorted(str(uuid.uuid4()) for _ in range(30))
    changes = [Change(seq=i + 1, collection="customers", id=rid, version=1,
                      data={"code": f"KH{i}", "name": f"Công ty {i}"})
               for i, rid in enumerate(ids)]
    first = SnapshotPage(records=changes[:20], next=ids[19], head_seq=30, total=30)
    await store.apply_snapshot(first, "n", 30, 30)
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] == {"done": 20, "total": 30}
    assert await store.cursor() == 0 and store.downloading
    last = SnapshotPage(records=changes[20:], next=None, head_seq=34)
    await store.apply_snapshot(last, "n", 30, 30)
    assert await store.cursor() == 30
    # the feed after the snapshot still holds 4 changes: the download goes on until then
    assert store.download_progress(30) == Download(done=30, total=34)
    await store.apply_changes(ChangesPage(changes=[], last_seq=34, has_more=False), "n")
    assert not store.downloading
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] is None
    assert status["datasets"][0]["counts"]["synced"] == 30
