"""A first download shows its progress: control /status (datasets[].download), the
``officesync status`` line and the tray's dataset line, in Vietnamese and English."""

from __future__ import annotations

import io
import uuid

from rich.console import Console

from agent.app import NodeContext
from agent.cli import render_status
from protocol.local import Download, parse_status
from protocol.models import Change, ChangesPage
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
    status = await (await control.get(STATUS, headers=control_headers)).json()
    assert status["datasets"][0]["download"] is None
    assert status["datasets"][0]["counts"]["synced"] == 30
