"""The local contract (protocol.local): the data dir's files and the control status document,
one model for the node that writes them and the tools that read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from protocol.connectivity import Connectivity
from protocol.i18n import Text
from protocol.local import (
    CONTROL_TOKEN_FILE,
    RUNTIME_FILE,
    Counts,
    RuntimeInfo,
    SyncHealth,
    parse_status,
    read_control_token,
    read_runtime,
)

COUNTS = {"synced": 4, "pending": 2, "syncing": 1, "error": 1, "conflict": 0, "blocked": 3}
REFUSED_MESSAGE = {"vi": "Cloud không có dữ liệu kế toán cty-xyz", "en": "No dataset cty-xyz"}


NEVER = {"state": "never", "checked_at": None, "through": None, "full": False,
         "message": None}


def node_document() -> dict[str, Any]:
    """Every field a node sends, with each optional part filled in one of its datasets."""
    return {
        "online": True,
        "connectivity": "cloud_unavailable",
        "message": Connectivity.CLOUD_UNAVAILABLE.messages(),
        "datasets": [
            {"id": "cty-abc", "connected": True, "counts": COUNTS,
             "sync": {"state": "ok", "code": None, "message": None},
             "selfcheck": {"state": "ok", "checked_at": "2026-12-02T03:00:41+00:00",
                           "through": "2026-12-02T03:00:40+00:00", "full": True,
                           "message": {"vi": "Dữ liệu khớp với Cloud đến 10:00",
                                       "en": "Data matches the cloud as of 10:00"}},
             "download": {"done": 420000, "total": 1000000}, "search_backlog": None},
            {"id": "cty-off", "connected": False, "counts": None,
             "sync": {"state": "failing", "code": None, "message": REFUSED_MESSAGE},
             "selfcheck": NEVER, "download": None, "search_backlog": None},
            {"id": "cty-xyz", "connected": True, "counts": {**COUNTS, "pending": 5},
             "sync": {"state": "refused", "code": "DATASET_NOT_FOUND",
                      "message": REFUSED_MESSAGE},
             "selfcheck": NEVER, "download": None, "search_backlog": 420000},
        ],
        "workstations": 2,
        "version": "0.1.0",
        "hub": {"url": "https://hub.example", "node_id": "n-1", "token_store": "keyring"},
        "tls_fingerprint": "AB:CD",
        "pending_restart": {"vi": "cần khởi động lại", "en": "restart needed"},
        "config_error": "lan.port: bad",
        "failing_tasks": [{"name": "push:cty-off", "failures": 3, "error": "OSError",
                           "since": "2026-12-01T10:00:00Z"}],
    }


def test_the_node_document_round_trips_unchanged() -> None:
    doc = node_document()
    status = parse_status(doc)
    assert status.as_json() == doc
    assert json.loads(status.model_dump_json()) == doc


def test_what_the_tray_reads_from_it() -> None:
    status = parse_status(node_document())
    assert status.connectivity is Connectivity.CLOUD_UNAVAILABLE and not status.is_online
    assert [d.id for d in status.troubled] == ["cty-off", "cty-xyz"]
    assert status.datasets[2].sync.state is SyncHealth.REFUSED
    assert status.datasets[2].sync.message_in("en") == "No dataset cty-xyz"
    assert status.datasets[1].tally == Counts()  # not connected: no counts, read as zero
    assert status.totals.pending == 2 + 5 and status.totals.outstanding == 2 + 5 + 2
    assert status.totals.failed == 2 * (1 + 0 + 3)
    assert status.message_in("vi") == Connectivity.CLOUD_UNAVAILABLE.messages()["vi"]
    assert status.pending_restart == Text("cần khởi động lại", "restart needed")


def test_a_newer_or_older_node_is_read_leniently() -> None:
    status = parse_status({
        "online": False, "connectivity": "on_the_moon", "message": {"vi": "only vi"},
        "datasets": [{"id": "a", "counts": {"pending": 1, "teleporting": 9}},
                     {"id": "b", "sync": None},
                     {"id": "c", "sync": {"state": "sleeping", "code": "X"}}],
        "brand_new_field": {"x": 1},
    })
    assert status.connectivity is None and status.message is None
    assert status.message_in("vi") == ""  # nothing to say rather than a wrong state
    assert [d.sync.state for d in status.datasets] == [SyncHealth.OK] * 3  # no sync: ok
    assert status.totals.pending == 1 and status.failing_tasks == ()
    assert status.hub.url is None and status.pending_restart is None


def test_a_partial_message_falls_back_to_the_states_own_words() -> None:
    status = parse_status({"connectivity": "no_network", "message": {"vi": 3, "en": "x"}})
    assert status.message is None
    assert status.message_in("en") == Connectivity.NO_NETWORK.messages()["en"]


@pytest.mark.parametrize("doc", [None, [], "status", {"datasets": [{"connected": True}]},
                                 {"online": "maybe"}])
def test_what_is_not_a_status_document_is_refused(doc: Any) -> None:
    with pytest.raises(ValidationError):
        parse_status(doc)


def test_runtime_file_round_trip_and_half_written(tmp_path: Path) -> None:
    assert read_runtime(tmp_path) is None
    info = RuntimeInfo(pid=42, lan_url="http://0.0.0.0:8470", control_url="http://127.0.0.1:1")
    (tmp_path / RUNTIME_FILE).write_text(info.model_dump_json(), encoding="utf-8")
    assert read_runtime(tmp_path) == info
    assert json.loads((tmp_path / RUNTIME_FILE).read_text(encoding="utf-8")) == {
        "pid": 42, "lan_url": "http://0.0.0.0:8470", "control_url": "http://127.0.0.1:1"}
    for broken in ('{"pid": 42, "lan_u', '{"pid": 42}', "[]", '{"pid": "x", "lan_url": "a", '
                   '"control_url": "b"}'):
        (tmp_path / RUNTIME_FILE).write_text(broken, encoding="utf-8")
        assert read_runtime(tmp_path) is None, broken


def test_control_token_missing_empty_or_unreadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert read_control_token(tmp_path) == ""
    (tmp_path / CONTROL_TOKEN_FILE).write_text("\n", encoding="ascii")
    assert read_control_token(tmp_path) == ""
    (tmp_path / CONTROL_TOKEN_FILE).write_text("tok-1\n", encoding="ascii")
    assert read_control_token(tmp_path) == "tok-1"

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(PermissionError):  # the caller tells "may not read" from "not there"
        read_control_token(tmp_path)

