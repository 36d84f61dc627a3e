"""The tray's pure view-model: every state, the menu, and notifications per transition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protocol.local import parse_status
from tests.tray.helpers import make_status
from tray.notes import CATCH_UP_WINDOW_S, NoteKind, NotificationTracker
from tray.viewmodel import (
    ICONS,
    TOOLTIP_MAX,
    DownReason,
    MenuAction,
    PairingCode,
    TrayState,
    build_menu,
    build_view,
    derive_state,
    parse_pairing,
    tooltip,
)

CASES = [
    (make_status("online"), TrayState.IDLE),
    (make_status(datasets={"a": {"syncing": 2, "pending": 5}}), TrayState.SYNCING),
    (make_status(datasets={"a": {"pending": 3}}), TrayState.PENDING),
    (make_status(datasets={"a": {"pending": 3, "error": 1}}), TrayState.ATTENTION),
    (make_status(datasets={"a": {}, "b": {"conflict": 1}}), TrayState.ATTENTION),
    (make_status(datasets={"a": {"blocked": 2}}), TrayState.ATTENTION),
    (make_status("offline_by_user"), TrayState.OFFLINE_BY_USER),
    (make_status("no_network", datasets={"a": {"error": 4}}), TrayState.NO_NETWORK),
    (make_status("cloud_unavailable"), TrayState.CLOUD_UNAVAILABLE),
    (make_status("auth_failed"), TrayState.AUTH_FAILED),
    (make_status("upgrade_required"), TrayState.UPGRADE_REQUIRED),
    (make_status("not_configured"), TrayState.NOT_CONFIGURED),
    (None, TrayState.AGENT_DOWN),
]


@pytest.mark.parametrize(("status", "state"), CASES)
def test_each_status_maps_to_its_state(status: object, state: TrayState) -> None:
    assert derive_state(status) is state  # type: ignore[arg-type]


def test_every_state_has_its_own_glyph() -> None:
    assert set(ICONS) == set(TrayState)
    glyphs = [spec.glyph for spec in ICONS.values()]
    assert len(set(glyphs)) == len(glyphs)


def test_unknown_connectivity_from_a_newer_node_is_shown_not_crashed() -> None:
    status = parse_status({"online": True, "connectivity": "warp_drive", "datasets": []})
    assert derive_state(status) is TrayState.CLOUD_UNAVAILABLE


def test_disconnected_dataset_without_counts_counts_zero() -> None:
    status = parse_status({"online": True, "connectivity": "online",
                           "datasets": [{"id": "a", "connected": False, "counts": None}]})
    assert status.totals.pending == 0
    assert "(not connected)" in build_menu(status, "en")[3].text


@pytest.mark.parametrize(
    ("status", "lang", "expected"),
    [
        (make_status(), "vi", "OfficeSync: Online: dữ liệu đã đồng bộ"),
        (make_status(), "en", "OfficeSync: Online: everything is synced"),
        (make_status(datasets={"a": {"pending": 7}}), "vi",
         "OfficeSync: Có dữ liệu chờ đồng bộ (7)"),
        (make_status(datasets={"a": {"syncing": 2, "pending": 1}}), "en",
         "OfficeSync: Syncing (3)"),
        (make_status("no_network"), "vi", "OfficeSync: Không có kết nối mạng"),
        (None, "en", "OfficeSync: The OfficeSync service is not running"),
    ],
)
def test_tooltip_says_the_state_in_the_configured_language(
    status: object, lang: str, expected: str
) -> None:
    assert tooltip(status, lang) == expected  # type: ignore[arg-type]


def test_tooltip_fits_the_windows_limit() -> None:
    status = make_status(datasets={"a": {"error": 10**60}})
    assert len(tooltip(status, "vi")) <= TOOLTIP_MAX


def _labels(status: object, lang: str, **kwargs: object) -> list[str]:
    return [e.text for e in build_menu(status, lang, **kwargs) if not e.separator]  # type: ignore[arg-type]


def test_menu_in_vietnamese_reflects_status() -> None:
    status = make_status(datasets={"cty-abc": {"pending": 2, "error": 1, "conflict": 3},
                                   "cty-xyz": {"blocked": 4}}, workstations=5)
    menu = build_menu(status, "vi")
    assert _labels(status, "vi") == [
        "Có bản ghi đồng bộ lỗi hoặc xung đột",
        "Máy trạm đã ghép nối: 5",
        "cty-abc: chờ 2 · lỗi 1 · xung đột 3",
        "cty-xyz: chờ 0 · lỗi 0 · xung đột 0 · bị chặn 4",
        "Làm việc online",
        "Đồng bộ ngay",
        "Mã ghép nối",
        "Mở bảng điều khiển",
        "Thoát",
    ]
    by_action = {e.action: e for e in menu if e.action}
    assert by_action[MenuAction.TOGGLE_ONLINE].checked is True
    assert [e.action for e in menu if e.default] == [MenuAction.SYNC_NOW]
    assert all(e.enabled for e in by_action.values())
    assert not any(e.enabled for e in menu if e.action is None and not e.separator)


def test_menu_in_english_and_offline_by_user_unchecks_the_toggle() -> None:
    status = make_status("offline_by_user")
    labels = _labels(status, "en")
    assert labels[0] == "Working offline (your choice)"
    assert "Work online" in labels and "Sync now" in labels and "Quit" in labels
    toggle = next(e for e in build_menu(status, "en") if e.action is MenuAction.TOGGLE_ONLINE)
    assert toggle.checked is False


@pytest.mark.parametrize(
    ("reason", "line"),
    [
        (DownReason.NOT_RUNNING, "Waiting for the service to start…"),
        (DownReason.NO_TOKEN, "Cannot read control.token: run the tray as an administrator"),
        (DownReason.UNAUTHORIZED,
         "The service refused the access token: re-reading control.token…"),
    ],
)
def test_menu_without_the_node_says_why_and_only_quit_works(
    reason: DownReason, line: str
) -> None:
    menu = build_menu(None, "en", down=reason)
    assert [e.text for e in menu[:2]] == ["The OfficeSync service is not running", line]
    enabled = [e.action for e in menu if e.action and e.enabled]
    assert enabled == [MenuAction.QUIT]


def test_pairing_code_line_shows_until_it_expires() -> None:
    expires = datetime(2030, 1, 1, 10, 30, tzinfo=UTC)
    pairing = PairingCode("482-913", expires)
    view = build_view(make_status(), "en", pairing=pairing, now=expires - timedelta(minutes=1))
    local = expires.astimezone().strftime("%H:%M")
    assert f"Pairing code: 482-913 (expires {local})" in [e.text for e in view.menu]
    later = build_view(make_status(), "en", pairing=pairing, now=expires)
    assert not any("482-913" in e.text for e in later.menu)


@pytest.mark.parametrize(
    "raw",
    [
        {"code": "123456", "expires_at": "2030-01-01T10:30:00Z"},
        {"code": "123456", "expires_at": "2030-01-01T10:30:00+00:00"},
        {"code": "123456", "expires_at": 1893493800},
    ],
)
def test_pairing_code_expiry_formats(raw: dict[str, object]) -> None:
    pairing = parse_pairing(raw)
    assert pairing.code == "123456"
    assert pairing.expires_at == datetime(2030, 1, 1, 10, 30, tzinfo=UTC)


def test_pairing_code_without_usable_expiry_never_expires() -> None:
    pairing = parse_pairing({"code": "9", "expires_at": "soon"})
    assert pairing.expires_at is None and pairing.expires_text() == "?"
    assert not pairing.expired(datetime.now(UTC))


# ----------------------------------------------------------------------- notifications


def _tracker(*statuses: object, lang: str = "en") -> tuple[NotificationTracker, list]:
    tracker = NotificationTracker(lang)  # type: ignore[arg-type]
    notes = []
    for now, status in enumerate(statuses):
        notes += tracker.observe(status, float(now))  # type: ignore[arg-type]
    return tracker, notes


def test_first_status_only_sets_the_baseline() -> None:
    _, notes = _tracker(make_status("no_network", datasets={"a": {"error": 3, "conflict": 1}}))
    assert notes == []


def test_going_offline_says_why_and_what_to_do_once() -> None:
    _, notes = _tracker(make_status(), make_status("no_network"), make_status("no_network"),
                        make_status("cloud_unavailable"), make_status("no_network"))
    assert [(n.kind, n.title, n.message) for n in notes] == [
        (NoteKind.WENT_OFFLINE, "OfficeSync: No network connection", "en:no_network"),
    ]


def test_going_offline_in_vietnamese() -> None:
    _, notes = _tracker(make_status(), make_status("offline_by_user"), lang="vi")
    assert notes[0].title == "OfficeSync: Làm việc offline (theo lựa chọn của bạn)"
    assert notes[0].message == "vi:offline_by_user"


def test_a_reason_that_needs_the_user_is_notified_again() -> None:
    _, notes = _tracker(make_status(), make_status("no_network"), make_status("auth_failed"),
                        make_status("upgrade_required"))
    assert [n.title for n in notes] == [
        "OfficeSync: No network connection",
        "OfficeSync: The cloud rejected this server",
        "OfficeSync: An upgrade is required",
    ]


def test_back_online_counts_records_sent_once_the_backlog_drains() -> None:
    tracker, notes = _tracker(
        make_status(),
        make_status("no_network", datasets={"a": {"pending": 4}}),
        make_status("no_network", datasets={"a": {"pending": 10}}),  # more written offline
    )
    assert [n.kind for n in notes] == [NoteKind.WENT_OFFLINE]
    assert tracker.observe(make_status(datasets={"a": {"pending": 10}}), 10.0) == []
    assert tracker.observe(make_status(datasets={"a": {"syncing": 6}}), 10.5) == []
    done = tracker.observe(make_status(datasets={"a": {"synced": 10}}), 11.0)
    assert [(n.kind, n.message) for n in done] == [
        (NoteKind.BACK_ONLINE, "10 records sent to the cloud since going offline.")
    ]
    assert tracker.observe(make_status(datasets={"a": {"synced": 10}}), 12.0) == []
    assert tracker.tick(100.0) == []


def test_back_online_records_that_failed_are_not_counted_as_sent() -> None:
    tracker, _ = _tracker(make_status(), make_status("no_network", datasets={"a": {"pending": 5}}))
    assert tracker.observe(make_status(datasets={"a": {"pending": 5}}), 10.0) == []
    notes = tracker.observe(make_status(datasets={"a": {"error": 2}}), 11.0)
    kinds = {n.kind: n.message for n in notes}
    assert kinds[NoteKind.ERRORS].startswith("2 records failed to sync (a)")
    assert tracker.tick(10.0 + CATCH_UP_WINDOW_S - 0.1) == []
    back = tracker.observe(make_status(datasets={"a": {"error": 2}}), 10.0 + CATCH_UP_WINDOW_S)
    assert [(n.kind, n.message) for n in back] == [
        (NoteKind.BACK_ONLINE, "3 records sent to the cloud since going offline.")
    ]


def test_back_online_waits_at_most_the_window_then_tells_what_went_out() -> None:
    tracker, _ = _tracker(make_status(), make_status("cloud_unavailable",
                                                     datasets={"a": {"pending": 100}}))
    assert tracker.observe(make_status(datasets={"a": {"pending": 60}}), 5.0) == []
    assert tracker.tick(5.0 + CATCH_UP_WINDOW_S - 0.1) == []
    notes = tracker.tick(5.0 + CATCH_UP_WINDOW_S)
    assert [(n.kind, n.message) for n in notes] == [
        (NoteKind.BACK_ONLINE, "40 records sent to the cloud since going offline.")
    ]
    assert tracker.tick(1000.0) == []


def test_back_online_with_nothing_waiting_is_immediate() -> None:
    _, notes = _tracker(make_status(), make_status("offline_by_user"), make_status(), lang="vi")
    assert [(n.kind, n.title, n.message) for n in notes][1:] == [
        (NoteKind.BACK_ONLINE, "OfficeSync: đã online trở lại", "Không có dữ liệu nào chờ gửi.")
    ]


def test_going_offline_again_during_catch_up_drops_the_pending_back_online_note() -> None:
    tracker, _ = _tracker(make_status(), make_status("no_network", datasets={"a": {"pending": 3}}),
                          make_status(datasets={"a": {"pending": 3}}))
    notes = tracker.observe(make_status("no_network", datasets={"a": {"pending": 3}}), 5.0)
    assert [n.kind for n in notes] == [NoteKind.WENT_OFFLINE]
    assert tracker.tick(1000.0) == []


def test_rising_errors_and_conflicts_are_notified_with_counts_and_datasets() -> None:
    _, notes = _tracker(
        make_status(datasets={"a": {"error": 1}, "b": {}}),
        make_status(datasets={"a": {"error": 3}, "b": {"error": 1, "conflict": 1}}),
        make_status(datasets={"a": {"error": 3}, "b": {"error": 1, "conflict": 1}}),
        make_status(datasets={"a": {"error": 0}, "b": {"error": 0, "conflict": 0}}),
    )
    assert [(n.kind, n.message) for n in notes] == [
        (NoteKind.ERRORS, "3 records failed to sync (a, b). Open the dashboard to see why."),
        (NoteKind.CONFLICTS, "1 records are in conflict (b): edited elsewhere too. Your "
                             "version is kept; open the dashboard to see the cloud's."),
    ]


def test_node_restart_does_not_replay_notifications() -> None:
    before = make_status(datasets={"a": {"error": 2, "conflict": 1}})
    tracker, _ = _tracker(make_status(), before)
    assert tracker.observe(None, 3.0) == []
    assert tracker.observe(before, 4.0) == []


def test_menu_shows_the_tls_fingerprint_when_lan_tls_is_on() -> None:
    plain = make_status()
    assert not any("TLS" in label for label in _labels(plain, "en"))
    status = plain.model_copy(update={"tls_fingerprint": "ab:cd:ef"})
    assert "TLS fingerprint: ab:cd:ef" in _labels(status, "en")
    assert "Vân tay TLS: ab:cd:ef" in _labels(status, "vi")


def test_back_online_counts_records_written_offline_that_the_tray_never_saw_waiting() -> None:
    """Written while offline and sent at once on reconnecting, between two statuses: the
    unsent count never showed them, the synced count did (the smoke test met this race)."""
    _, notes = _tracker(
        make_status(datasets={"a": {"synced": 10}}),
        make_status("offline_by_user", datasets={"a": {"synced": 10}}),
        make_status(datasets={"a": {"synced": 15}}),
        lang="vi",
    )
    back = [n for n in notes if n.kind is NoteKind.BACK_ONLINE]
    assert [n.message for n in back] == ["Đã gửi 5 bản ghi lên Cloud kể từ khi mất kết nối."]


def test_the_self_check_result_is_a_menu_line() -> None:
    from protocol.local import parse_status
    from tray.viewmodel import build_menu

    def menu(selfcheck: dict[str, object] | None) -> list[str]:
        ds: dict[str, object] = {"id": "cty-abc", "connected": True}
        if selfcheck is not None:
            ds["selfcheck"] = selfcheck
        status = parse_status({"online": True, "connectivity": "online", "datasets": [ds]})
        return [entry.text for entry in build_menu(status, "vi")]

    matches = {"state": "ok", "through": "2026-12-02T03:00:00+00:00",
               "message": {"vi": "Dữ liệu khớp với Cloud đến 10:00",
                           "en": "Data matches the cloud as of 10:00"}}
    assert "✓ Dữ liệu khớp với Cloud đến 10:00" in menu(matches)
    person = {**matches, "state": "needs_person",
              "message": {"vi": "2 bản ghi xung đột cần người xử lý", "en": "2 need a person"}}
    assert "⚠ 2 bản ghi xung đột cần người xử lý" in menu(person)
    assert not any(line.startswith(("✓", "⚠")) for line in menu(None))  # never ran: no line
