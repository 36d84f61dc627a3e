"""Every word the tray shows, in Vietnamese and English (one language per label)."""

from __future__ import annotations

from typing import Final

from protocol.i18n import Lang

TEXTS: Final[dict[str, tuple[str, str]]] = {
    # states (tooltip and menu status line)
    "state.idle": ("Online: dữ liệu đã đồng bộ", "Online: everything is synced"),
    "state.syncing": ("Đang đồng bộ", "Syncing"),
    "state.pending": ("Có dữ liệu chờ đồng bộ", "Changes waiting to sync"),
    "state.attention": (
        "Có bản ghi đồng bộ lỗi hoặc xung đột",
        "Records with sync errors or conflicts",
    ),
    "state.offline_by_user": (
        "Làm việc offline (theo lựa chọn của bạn)",
        "Working offline (your choice)",
    ),
    "state.no_network": ("Không có kết nối mạng", "No network connection"),
    "state.cloud_unavailable": ("Cloud không phản hồi", "The cloud is not responding"),
    "state.auth_failed": ("Cloud từ chối xác thực máy chủ", "The cloud rejected this server"),
    "state.upgrade_required": ("Cần cập nhật phiên bản mới", "An upgrade is required"),
    "state.not_configured": ("Chưa cấu hình Cloud", "No cloud configured"),
    "state.agent_down": ("Dịch vụ OfficeSync không chạy", "The OfficeSync service is not running"),
    # why the tray cannot reach the node
    "down.not_running": (
        "Đang chờ dịch vụ khởi động lại…",
        "Waiting for the service to start…",
    ),
    "down.no_token": (
        "Không đọc được tệp control.token: hãy chạy khay với quyền quản trị",
        "Cannot read control.token: run the tray as an administrator",
    ),
    "down.unauthorized": (
        "Dịch vụ từ chối mã truy cập: đang đọc lại control.token…",
        "The service refused the access token: re-reading control.token…",
    ),
    # menu
    "menu.work_online": ("Làm việc online", "Work online"),
    "menu.sync_now": ("Đồng bộ ngay", "Sync now"),
    "menu.pairing_code": ("Mã ghép nối", "Pairing code"),
    "menu.open_dashboard": ("Mở bảng điều khiển", "Open dashboard"),
    "menu.quit": ("Thoát", "Quit"),
    "menu.dataset": (
        "{id}: chờ {pending} · lỗi {error} · xung đột {conflict}",
        "{id}: pending {pending} · errors {error} · conflicts {conflict}",
    ),
    "menu.dataset_blocked": (" · bị chặn {blocked}", " · blocked {blocked}"),
    "menu.dataset_disconnected": (" (chưa kết nối)", " (not connected)"),
    "menu.no_datasets": ("Chưa có dữ liệu kế toán nào", "No datasets hosted"),
    "menu.workstations": ("Máy trạm đã ghép nối: {count}", "Paired workstations: {count}"),
    "menu.tls": ("Vân tay TLS: {fingerprint}", "TLS fingerprint: {fingerprint}"),
    "menu.pairing_line": (
        "Mã ghép nối: {code} (hết hạn {expires})",
        "Pairing code: {code} (expires {expires})",
    ),
    # notifications
    "note.offline.title": ("OfficeSync: {state}", "OfficeSync: {state}"),
    "note.online.title": ("OfficeSync: đã online trở lại", "OfficeSync: back online"),
    "note.online.sent": (
        "Đã gửi {count} bản ghi lên Cloud kể từ khi mất kết nối.",
        "{count} records sent to the cloud since going offline.",
    ),
    "note.online.nothing": (
        "Không có dữ liệu nào chờ gửi.",
        "Nothing was waiting to be sent.",
    ),
    "note.errors.title": ("OfficeSync: đồng bộ lỗi", "OfficeSync: sync errors"),
    "note.errors.body": (
        "{count} bản ghi đồng bộ lỗi ({datasets}). Mở bảng điều khiển để xem lý do.",
        "{count} records failed to sync ({datasets}). Open the dashboard to see why.",
    ),
    "note.conflicts.title": (
        "OfficeSync: cần xử lý xung đột",
        "OfficeSync: a conflict needs a decision",
    ),
    "note.conflicts.body": (
        "{count} bản ghi bị xung đột ({datasets}): đã được sửa ở nơi khác. Bản của bạn vẫn "
        "được giữ; mở bảng điều khiển để xem bản trên Cloud.",
        "{count} records are in conflict ({datasets}): edited elsewhere too. Your version is "
        "kept; open the dashboard to see the cloud's.",
    ),
    "note.pairing.title": ("OfficeSync: mã ghép nối", "OfficeSync: pairing code"),
    "note.pairing.body": (
        "Mã: {code} — hết hạn lúc {expires}. Nhập mã này trên máy trạm.",
        "Code: {code} — expires at {expires}. Enter it on the workstation.",
    ),
    "note.failed.title": ("OfficeSync: không thực hiện được", "OfficeSync: that did not work"),
    "note.failed.down": (
        "Dịch vụ OfficeSync không chạy; hãy khởi động dịch vụ rồi thử lại.",
        "The OfficeSync service is not running; start it and try again.",
    ),
}


def text(key: str, lang: Lang, **params: object) -> str:
    """The label ``key`` in ``lang`` with its ``{placeholders}`` filled."""
    vi, en = TEXTS[key]
    template = vi if lang == "vi" else en
    return template.format(**params) if params else template
