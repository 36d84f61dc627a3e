"""Every word the tray shows, in Vietnamese and English (one language per label)."""

from __future__ import annotations

from typing import Final

from protocol.i18n import Lang, Text

TEXTS: Final[dict[str, Text]] = {
    # states (tooltip and menu status line)
    "state.idle": Text("Online: dữ liệu đã đồng bộ", "Online: everything is synced"),
    "state.syncing": Text("Đang đồng bộ", "Syncing"),
    "state.pending": Text("Có dữ liệu chờ đồng bộ", "Changes waiting to sync"),
    "state.attention": Text(
        "Có bản ghi đồng bộ lỗi hoặc xung đột",
        "Records with sync errors or conflicts",
    ),
    "state.dataset_refused": Text(
        "Có dữ liệu kế toán không đồng bộ được lên Cloud",
        "A dataset is not reaching the cloud",
    ),
    "state.offline_by_user": Text(
        "Làm việc offline (theo lựa chọn của bạn)",
        "Working offline (your choice)",
    ),
    "state.no_network": Text("Không có kết nối mạng", "No network connection"),
    "state.cloud_unavailable": Text("Cloud không phản hồi", "The cloud is not responding"),
    "state.auth_failed": Text("Cloud từ chối xác thực máy chủ", "The cloud rejected this server"),
    "state.upgrade_required": Text("Cần cập nhật phiên bản mới", "An upgrade is required"),
    "state.not_configured": Text("Chưa cấu hình Cloud", "No cloud configured"),
    "state.agent_down": Text("Dịch vụ OfficeSync không chạy",
                             "The OfficeSync service is not running"),
    # why the tray cannot reach the node
    "down.not_running": Text(
        "Đang chờ dịch vụ khởi động lại…",
        "Waiting for the service to start…",
    ),
    "down.no_token": Text(
        "Không đọc được tệp control.token: hãy chạy khay với quyền quản trị",
        "Cannot read control.token: run the tray as an administrator",
    ),
    "down.unauthorized": Text(
        "Dịch vụ từ chối mã truy cập: đang đọc lại control.token…",
        "The service refused the access token: re-reading control.token…",
    ),
    # menu
    "menu.work_online": Text("Làm việc online", "Work online"),
    "menu.sync_now": Text("Đồng bộ ngay", "Sync now"),
    "menu.pairing_code": Text("Mã ghép nối", "Pairing code"),
    "menu.open_dashboard": Text("Mở bảng điều khiển", "Open dashboard"),
    "menu.quit": Text("Thoát", "Quit"),
    "menu.dataset": Text(
        "{id}: chờ {pending} · lỗi {error} · xung đột {conflict}",
        "{id}: pending {pending} · errors {error} · conflicts {conflict}",
    ),
    "menu.dataset_blocked": Text(" · bị chặn {blocked}", " · blocked {blocked}"),
    "menu.dataset_disconnected": Text(" (chưa kết nối)", " (not connected)"),
    "menu.no_datasets": Text("Chưa có dữ liệu kế toán nào", "No datasets hosted"),
    "menu.workstations": Text("Máy trạm đã ghép nối: {count}", "Paired workstations: {count}"),
    "menu.tls": Text("Vân tay TLS: {fingerprint}", "TLS fingerprint: {fingerprint}"),
    "menu.pairing_line": Text(
        "Mã ghép nối: {code} (hết hạn {expires})",
        "Pairing code: {code} (expires {expires})",
    ),
    # a dataset the hub refuses or that keeps failing (when the node sends no message)
    "sync.refused": Text(
        "Cloud từ chối dữ liệu kế toán {id} ({code}): các thay đổi chưa được gửi lên Cloud. "
        "Hãy báo quản trị Cloud.",
        "The cloud refuses dataset {id} ({code}): changes are not reaching the cloud. "
        "Tell the cloud's administrator.",
    ),
    "sync.refused.DATASET_NOT_FOUND": Text(
        "Cloud không có dữ liệu kế toán {id}: các thay đổi chưa được gửi lên Cloud. Hãy nhờ "
        "quản trị Cloud tạo dữ liệu này và cấp quyền cho máy chủ, rồi đăng ký lại nếu cần.",
        "The cloud has no dataset {id}: changes are not reaching the cloud. Ask the cloud's "
        "administrator to create it and grant it to this server, then re-enroll if needed.",
    ),
    "sync.refused.FORBIDDEN": Text(
        "Máy chủ này chưa được cấp quyền cho dữ liệu kế toán {id}: các thay đổi chưa được gửi "
        "lên Cloud. Hãy xin quản trị Cloud cấp quyền (hoặc đăng ký lại với mã mới).",
        "This server is not granted dataset {id}: changes are not reaching the cloud. Ask the "
        "cloud's administrator for the grant (or re-enroll with a new code).",
    ),
    "sync.failing": Text(
        "Đồng bộ dữ liệu kế toán {id} liên tục thất bại: các thay đổi chưa được gửi lên Cloud. "
        "Mở bảng điều khiển để xem lý do.",
        "Syncing dataset {id} keeps failing: changes are not reaching the cloud. Open the "
        "dashboard to see why.",
    ),
    # the xorg fallback (no menu)
    "nomenu.title": Text("OfficeSync: khay không có menu", "OfficeSync: the tray has no menu"),
    "nomenu.body": Text(
        "Màn hình này không hiện được menu của khay. Bấm vào biểu tượng để mở bảng điều khiển "
        "({url}): ở đó có \"Làm việc online\" và \"Đồng bộ ngay\".",
        "This desktop cannot show the tray's menu. Click the icon to open the dashboard "
        "({url}): \"Work online\" and \"Sync now\" are there.",
    ),
    "nomenu.no_url": Text("địa chỉ sẽ có khi dịch vụ chạy", "address known once the service runs"),
    # notifications
    "note.dataset_refused.title": Text(
        "OfficeSync: Cloud từ chối dữ liệu {id}",
        "OfficeSync: the cloud refuses dataset {id}",
    ),
    "note.dataset_failing.title": Text(
        "OfficeSync: không đồng bộ được dữ liệu {id}",
        "OfficeSync: dataset {id} is not syncing",
    ),
    "note.dataset_ok.title": Text(
        "OfficeSync: dữ liệu {id} đồng bộ trở lại",
        "OfficeSync: dataset {id} syncs again",
    ),
    "note.dataset_ok.body": Text(
        "Cloud đã nhận dữ liệu kế toán {id}; các thay đổi đang chờ sẽ được gửi lên.",
        "The cloud takes dataset {id} again; waiting changes are being sent.",
    ),
    "note.offline.title": Text("OfficeSync: {state}", "OfficeSync: {state}"),
    "note.online.title": Text("OfficeSync: đã online trở lại", "OfficeSync: back online"),
    "note.online.sent": Text(
        "Đã gửi {count} bản ghi lên Cloud kể từ khi mất kết nối.",
        "{count} records sent to the cloud since going offline.",
    ),
    "note.online.nothing": Text(
        "Không có dữ liệu nào chờ gửi.",
        "Nothing was waiting to be sent.",
    ),
    "note.errors.title": Text("OfficeSync: đồng bộ lỗi", "OfficeSync: sync errors"),
    "note.errors.body": Text(
        "{count} bản ghi đồng bộ lỗi ({datasets}). Mở bảng điều khiển để xem lý do.",
        "{count} records failed to sync ({datasets}). Open the dashboard to see why.",
    ),
    "note.conflicts.title": Text(
        "OfficeSync: cần xử lý xung đột",
        "OfficeSync: a conflict needs a decision",
    ),
    "note.conflicts.body": Text(
        "{count} bản ghi bị xung đột ({datasets}): đã được sửa ở nơi khác. Bản của bạn vẫn "
        "được giữ; mở bảng điều khiển để xem bản trên Cloud.",
        "{count} records are in conflict ({datasets}): edited elsewhere too. Your version is "
        "kept; open the dashboard to see the cloud's.",
    ),
    "note.pairing.title": Text("OfficeSync: mã ghép nối", "OfficeSync: pairing code"),
    "note.pairing.body": Text(
        "Mã: {code} — hết hạn lúc {expires}. Nhập mã này trên máy trạm.",
        "Code: {code} — expires at {expires}. Enter it on the workstation.",
    ),
    "note.failed.title": Text("OfficeSync: không thực hiện được", "OfficeSync: that did not work"),
    "note.failed.down": Text(
        "Dịch vụ OfficeSync không chạy; hãy khởi động dịch vụ rồi thử lại.",
        "The OfficeSync service is not running; start it and try again.",
    ),
}


def text(key: str, lang: Lang, **params: object) -> str:
    """The label ``key`` in ``lang`` with its ``{placeholders}`` filled."""
    template = TEXTS[key].get(lang)
    return template.format(**params) if params else template
