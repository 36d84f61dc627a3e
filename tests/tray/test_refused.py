"""A dataset the hub refuses (or that keeps failing) is seen in the tray: its own icon state,
a menu line saying what to do, and one notification per transition (issue: a dataset the hub
does not have or does not grant looked healthy)."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.local import NodeStatus, SyncHealth, parse_status
from tests.tray.helpers import status_doc
from tray.icons import state_icon
from tray.notes import NoteKind, NotificationTracker
from tray.viewmodel import (
    ICONS,
    PROBLEM_LINES,
    PROBLEM_WIDTH,
    TrayState,
    build_menu,
    derive_state,
    tooltip,
    wrap_problem,
)

NOT_FOUND_MSG = {"vi": "Cloud không có dữ liệu cty-abc: hãy nhờ quản trị Cloud tạo nó.",
                 "en": "The cloud has no dataset cty-abc: ask its administrator to create it."}


def with_sync(syncs: dict[str, Any], connectivity: str = "online") -> NodeStatus:
    """A status whose datasets (id -> sync object, None for no "sync" key) are as given."""
    doc = status_doc(connectivity, datasets={ds: {} for ds in syncs} or None)
    for entry in doc["datasets"]:
        sync = syncs.get(entry["id"])
        if sync is not None:
            entry["sync"] = sync
    return parse_status(doc)


REFUSED = {"state": "refused", "code": "DATASET_NOT_FOUND", "message": NOT_FOUND_MSG}
FORBIDDEN = {"state": "refused", "code": "FORBIDDEN", "message": None}
FAILING = {"state": "failing", "code": "INTERNAL", "message": None}
OK = {"state": "ok", "code": None, "message": None}


def test_a_missing_null_or_unknown_sync_reads_as_ok() -> None:
    status = with_sync({"a": None, "b": OK, "c": {"state": "paused-by-newer-node"}})
    assert [d.sync.state for d in status.datasets] == [SyncHealth.OK] * 3
    raw = status_doc()
    raw["datasets"][0]["sync"] = None
    assert parse_status(raw).datasets[0].sync.state is SyncHealth.OK
    assert derive_state(status) is TrayState.IDLE


@pytest.mark.parametrize("sync", [REFUSED, FORBIDDEN, FAILING])
def test_refused_or_failing_dataset_has_its_own_state_above_record_errors(
    sync: dict[str, Any]
) -> None:
    status = with_sync({"cty-abc": sync, "cty-xyz": OK})
    assert derive_state(status) is TrayState.DATASET_REFUSED
    doc = status_doc(datasets={"cty-abc": {"error": 2}, "cty-xyz": {}})
    doc["datasets"][1]["sync"] = sync
    assert derive_state(parse_status(doc)) is TrayState.DATASET_REFUSED  # outranks errors
    assert tooltip(status, "vi") == (
        "OfficeSync: Có dữ liệu kế toán không đồng bộ được lên Cloud (cty-abc)")


def test_being_offline_still_outranks_a_refused_dataset() -> None:
    status = with_sync({"cty-abc": REFUSED}, "cloud_unavailable")
    assert derive_state(status) is TrayState.CLOUD_UNAVAILABLE


def test_refused_icon_differs_from_every_other_state() -> None:
    spec = ICONS[TrayState.DATASET_REFUSED]
    assert spec.shape == "octagon"
    mine = state_icon(TrayState.DATASET_REFUSED, 16).tobytes()
    assert all(state_icon(s, 16).tobytes() != mine
               for s in TrayState if s is not TrayState.DATASET_REFUSED)


def _texts(status: NodeStatus, lang: str) -> list[str]:
    return [e.text for e in build_menu(status, lang)]  # type: ignore[arg-type]


def _problem(texts: list[str]) -> tuple[int, str]:
    """Where the problem lines start, and their text joined back."""
    at = next(i for i, t in enumerate(texts) if t.startswith("⚠ "))
    end = at + 1
    while texts[end].startswith("    "):
        end += 1
    return at, " ".join(t.strip() for t in texts[at:end]).removeprefix("⚠ ")


def test_menu_line_carries_the_nodes_message() -> None:
    status = with_sync({"cty-abc": REFUSED, "cty-xyz": OK})
    vi, en = _texts(status, "vi"), _texts(status, "en")
    (at, vi_text), (_, en_text) = _problem(vi), _problem(en)
    assert (vi_text, en_text) == (NOT_FOUND_MSG["vi"], NOT_FOUND_MSG["en"])
    assert vi[at - 1].startswith("cty-abc:") and vi[-1] == "Thoát"
    assert vi[at + 1].startswith("cty-xyz:")
    assert sum("⚠" in t for t in vi) == 1  # the ok dataset has no such line


def test_a_long_node_message_is_wrapped_so_the_menu_fits_the_screen() -> None:
    long = {"vi": "Cloud không có dữ liệu kế toán cty-abc. " + "Hãy nhờ quản trị viên. " * 30,
            "en": "short"}
    status = with_sync({"cty-abc": {**REFUSED, "message": long}})
    texts = _texts(status, "vi")
    at = next(i for i, t in enumerate(texts) if t.startswith("⚠ "))
    problem = texts[at:at + PROBLEM_LINES]
    assert all(len(t) <= PROBLEM_WIDTH + 4 for t in problem)
    assert problem[0] == "⚠ Cloud không có dữ liệu kế toán cty-abc. Hãy nhờ quản trị viên."
    assert problem[-1].endswith("…") and not texts[at + PROBLEM_LINES].startswith("    ")
    assert wrap_problem("ngắn") == ["ngắn"]


@pytest.mark.parametrize(
    ("sync", "vi_words", "en_words"),
    [
        (FORBIDDEN, "chưa được cấp quyền", "not granted"),
        ({"state": "refused", "code": "DATASET_NOT_FOUND"}, "Cloud không có", "has no dataset"),
        ({"state": "refused", "code": "SOMETHING_NEW"}, "SOMETHING_NEW", "SOMETHING_NEW"),
        (FAILING, "liên tục thất bại", "keeps failing"),
    ],
)
def test_without_a_node_message_the_tray_says_what_to_do_by_code(
    sync: dict[str, Any], vi_words: str, en_words: str
) -> None:
    status = with_sync({"cty-abc": sync})
    vi, en = _problem(_texts(status, "vi"))[1], _problem(_texts(status, "en"))[1]
    assert vi_words in vi and "cty-abc" in vi
    assert en_words in en and "cty-abc" in en


def test_notified_once_per_transition_with_the_message() -> None:
    tracker = NotificationTracker("vi")
    assert tracker.observe(with_sync({"cty-abc": OK}), 0.0) == []
    notes = tracker.observe(with_sync({"cty-abc": REFUSED}), 1.0)
    assert [(n.kind, n.message) for n in notes] == [
        (NoteKind.DATASET_REFUSED, NOT_FOUND_MSG["vi"])]
    assert notes[0].title == "OfficeSync: Cloud từ chối dữ liệu cty-abc"
    assert tracker.observe(with_sync({"cty-abc": REFUSED}), 2.0) == []  # no stream
    changed = tracker.observe(with_sync({"cty-abc": FORBIDDEN}), 3.0)  # another code
    assert [n.kind for n in changed] == [NoteKind.DATASET_REFUSED]
    back = tracker.observe(with_sync({"cty-abc": OK}), 4.0)
    assert [(n.kind, n.title) for n in back] == [
        (NoteKind.DATASET_OK, "OfficeSync: dữ liệu cty-abc đồng bộ trở lại")]
    assert tracker.observe(with_sync({"cty-abc": None}), 5.0) == []  # missing == ok


def test_a_dataset_refused_when_the_tray_starts_is_said_once() -> None:
    tracker = NotificationTracker("en")
    notes = tracker.observe(with_sync({"cty-abc": FAILING, "cty-xyz": OK}), 0.0)
    assert [(n.kind, n.title) for n in notes] == [
        (NoteKind.DATASET_REFUSED, "OfficeSync: dataset cty-abc is not syncing")]
    assert tracker.observe(None, 1.0) == []  # node restart: nothing replayed
    assert tracker.observe(with_sync({"cty-abc": FAILING, "cty-xyz": OK}), 2.0) == []


def test_no_back_to_ok_note_while_the_node_is_offline() -> None:
    tracker = NotificationTracker("en")
    tracker.observe(with_sync({"cty-abc": REFUSED}), 0.0)
    notes = tracker.observe(with_sync({"cty-abc": OK}, "cloud_unavailable"), 1.0)
    assert NoteKind.DATASET_OK not in [n.kind for n in notes]
