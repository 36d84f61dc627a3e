"""Every text of the dashboard page, in Vietnamese and English: one catalogue of
``protocol.i18n.Text``, served to the page as ``/static/texts.json`` (``{"vi": {…}, "en": {…}}``)
so the page holds no wording of its own. Keys are the page's; a nested group (``state``,
``conn``…) is a table of its own keys."""

from __future__ import annotations

from typing import Any

from protocol.i18n import Lang, Text

Catalogue = dict[str, "Text | Catalogue"]

TEXTS: Catalogue = {
    "lang_toggle": Text("English", "Tiếng Việt"),
    "forget": Text("Hủy ghép nối trình duyệt này", "Unpair this browser"),
    "close": Text("Đóng", "Close"),
    "pair_title": Text("Ghép nối", "Pair"),
    "pair_help": Text(
        "Nhập mã ghép nối lấy từ biểu tượng OfficeSync trên khay hệ thống (Mã ghép nối), "
        "lệnh \"officesync pair-code\" hoặc màn hình của officesync demo. Mã dùng một lần, "
        "hết hạn sau 10 phút.",
        "Enter a pairing code from the OfficeSync tray icon (Pairing code), the "
        "\"officesync pair-code\" command or the officesync demo screen. A code works once "
        "and expires after 10 minutes.",
    ),
    "pair_code": Text("Mã ghép nối", "Pairing code"),
    "pair_name": Text("Tên máy này", "This device's name"),
    "pair_default_name": Text("Trình duyệt", "Browser"),
    "pair_button": Text("Ghép nối", "Pair"),
    "pair_done": Text("Đã ghép nối.", "Paired."),
    "unpaired": Text(
        "Phiên làm việc đã hết hiệu lực hoặc máy này đã bị thu hồi. Hãy ghép nối lại.",
        "This session is no longer valid or the device was revoked. Please pair again.",
    ),
    "dataset": Text("Dữ liệu kế toán", "Dataset"),
    "not_connected": Text("chưa kết nối", "not connected"),
    "sync_now": Text("Đồng bộ ngay", "Sync now"),
    "sync_requested": Text("Đã yêu cầu đồng bộ.", "Sync requested."),
    "dataset_state": {
        "refused": Text("Cloud từ chối dữ liệu này", "The hub refuses this dataset"),
        "failing": Text("Đồng bộ đang lỗi", "Sync keeps failing"),
    },
    "online_on": Text("Làm việc online: bật", "Work online: on"),
    "online_off": Text("Làm việc online: tắt", "Work online: off"),
    "last_push": Text("Gửi lên lần cuối", "Last sent"),
    "last_pull": Text("Nhận về lần cuối", "Last received"),
    "never": Text("chưa có", "never"),
    "live_on": Text("Cập nhật trực tiếp", "Live updates"),
    "live_off": Text("Mất kết nối trực tiếp, đang thử lại…", "Live updates lost, retrying…"),
    "issues_title": Text("Bản ghi cần xử lý", "Records needing attention"),
    "issues_none": Text(
        "Không có bản ghi nào lỗi, xung đột hay đang chờ.",
        "No record is in error, in conflict or waiting.",
    ),
    "records_title": Text("Dữ liệu", "Data"),
    "records_none": Text("Không có bản ghi nào.", "No records."),
    "filter_state": Text("Trạng thái đồng bộ", "Sync state"),
    "all_states": Text("Tất cả", "All"),
    "search": Text("Tìm kiếm", "Search"),
    "load_more": Text("Xem thêm", "Load more"),
    "col_collection": Text("Danh mục", "Collection"),
    "col_key": Text("Mã / Số", "Code / Number"),
    "col_state": Text("Trạng thái", "State"),
    "col_reason": Text("Lý do", "Reason"),
    "col_code": Text("Mã lỗi", "Error code"),
    "col_resolve": Text("Xử lý", "Resolve"),
    "keep_local": Text("Giữ bản của tôi", "Keep mine"),
    "take_cloud": Text("Lấy bản trên Cloud", "Take the cloud's"),
    "discard": Text("Bỏ bản ghi này", "Discard this record"),
    "col_details": Text("Nội dung", "Details"),
    "col_updated": Text("Cập nhật", "Updated"),
    "network_error": Text(
        "Không kết nối được với máy chủ OfficeSync.",
        "Cannot reach the OfficeSync server.",
    ),
    "state": {
        "synced": Text("Đã đồng bộ", "Synced"),
        "pending": Text("Chưa đồng bộ", "Not synced"),
        "syncing": Text("Đang đồng bộ", "Syncing"),
        "error": Text("Đồng bộ lỗi", "Sync error"),
        "conflict": Text("Xung đột", "Conflict"),
        "blocked": Text("Đang chờ", "Waiting"),
    },
    "conn": {
        "online": Text("Đang online", "Online"),
        "offline_by_user": Text("Đang làm việc offline", "Working offline"),
        "no_network": Text("Không có kết nối mạng", "No network connection"),
        "cloud_unavailable": Text("Cloud không phản hồi", "Cloud not responding"),
        "auth_failed": Text("Cloud từ chối xác thực", "Cloud rejected credentials"),
        "upgrade_required": Text("Cần cập nhật phiên bản", "Upgrade required"),
        "not_configured": Text("Chưa kết nối Cloud", "No cloud configured"),
    },
    "conn_message": {
        "online": Text("Dữ liệu được đồng bộ tự động.", "Data syncs automatically."),
        "offline_by_user": Text(
            "Dữ liệu được lưu và chờ đồng bộ; bật \"Làm việc online\" để đồng bộ.",
            "Data is kept and waits to sync; turn on \"Work online\" to sync.",
        ),
        "no_network": Text(
            "Dữ liệu vẫn được lưu và sẽ tự động đồng bộ khi có mạng.",
            "Data is kept and will sync by itself when the network returns.",
        ),
        "cloud_unavailable": Text(
            "Dữ liệu được lưu và sẽ tự động đồng bộ khi Cloud hoạt động trở lại.",
            "Data is kept and will sync by itself when the cloud is back.",
        ),
        "auth_failed": Text(
            "Hãy đăng ký lại máy chủ (officesync enroll) với mã mới.",
            "Enroll this server again (officesync enroll) with a new code.",
        ),
        "upgrade_required": Text(
            "Hãy cập nhật chương trình trên máy chủ này rồi khởi động lại.",
            "Upgrade the program on this server and restart it.",
        ),
        "not_configured": Text(
            "Máy chủ này chưa được đăng ký với Cloud; dữ liệu chỉ lưu tại văn phòng.",
            "This server is not enrolled with a cloud; data stays in the office.",
        ),
    },
    "collections": {
        "vouchers": Text("Chứng từ", "Vouchers"),
        "customers": Text("Khách hàng", "Customers"),
        "vendors": Text("Nhà cung cấp", "Vendors"),
        "items": Text("Hàng hóa", "Items"),
        "accounts": Text("Tài khoản", "Accounts"),
        "sales_orders": Text("Đơn bán hàng", "Sales orders"),
    },
    "voucher_type": {
        "receipt": Text("Phiếu thu", "Receipt"),
        "payment": Text("Phiếu chi", "Payment"),
        "sales_invoice": Text("Hóa đơn bán hàng", "Sales invoice"),
        "purchase_invoice": Text("Hóa đơn mua hàng", "Purchase invoice"),
        "journal": Text("Nghiệp vụ khác", "Journal"),
    },
    "posted": Text("đã ghi sổ", "posted"),
}


def in_language(catalogue: Catalogue, lang: Lang) -> dict[str, Any]:
    """The catalogue in one language, nested as it is."""
    return {key: value.get(lang) if isinstance(value, Text) else in_language(value, lang)
            for key, value in catalogue.items()}


def texts_document() -> dict[str, dict[str, Any]]:
    """What ``/static/texts.json`` serves: the whole catalogue in both languages."""
    return {lang: in_language(TEXTS, lang) for lang in ("vi", "en")}
