"""Every text of the dashboard page, in Vietnamese and English: one catalogue of
``protocol.i18n.Text``, served to the page as ``/static/texts.json`` (``{"vi": {…}, "en": {…}}``)
so the page holds no wording of its own. Keys are the page's; a nested group (``state``,
``conn``…) is a table of its own keys."""

from __future__ import annotations

from typing import Any

from protocol.accounting import ACCOUNTING_PACK
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
    # --- the screens and the admin views (admin.js) -----------------------------------------
    "view_overview": Text("Tổng quan", "Overview"),
    "view_workstations": Text("Máy trạm", "Workstations"),
    "view_datasets": Text("Dữ liệu kế toán", "Datasets"),
    "view_tools": Text("Công cụ", "Tools"),
    "cancel": Text("Hủy", "Cancel"),
    "pairing_title": Text("Ghép nối máy mới", "Pair a new device"),
    "pairing_help": Text(
        "Tạo mã ghép nối rồi nhập mã trên máy trạm (officesync ws pair), hoặc quét mã QR bằng "
        "điện thoại hay máy tính bảng trong mạng văn phòng: trang sẽ mở với mã đã điền sẵn. "
        "Mã dùng một lần.",
        "Make a pairing code and type it on the workstation (officesync ws pair), or scan the "
        "QR code with a phone or tablet on the office network: the page opens with the code "
        "filled in. A code works once.",
    ),
    "pairing_new": Text("Tạo mã ghép nối", "Make a pairing code"),
    "pairing_expires_in": Text("Hết hạn sau {time}", "Expires in {time}"),
    "pairing_expired": Text("Mã đã hết hạn: hãy tạo mã mới", "The code has expired: make a new "
                            "one"),
    "pairing_qr_alt": Text("Mã QR của đường dẫn ghép nối", "QR code of the pairing link"),
    "ws_title": Text("Các máy đã ghép nối", "Paired devices"),
    "ws_name": Text("Tên", "Name"),
    "ws_kind": Text("Loại", "Kind"),
    "ws_address": Text("Địa chỉ", "Address"),
    "ws_paired": Text("Ghép nối lúc", "Paired"),
    "ws_last_seen": Text("Lần cuối truy cập", "Last seen"),
    "ws_kinds": {
        "workstation": Text("Máy trạm", "Workstation"),
        "browser": Text("Trình duyệt", "Browser"),
    },
    "ws_this_browser": Text("trình duyệt này", "this browser"),
    "ws_none": Text("Chưa có máy nào được ghép nối", "No device is paired"),
    "ws_revoke": Text("Thu hồi", "Revoke"),
    "ws_revoke_title": Text("Thu hồi quyền truy cập của {name}?", "Revoke {name}'s access?"),
    "ws_revoke_text": Text(
        "{name} sẽ bị từ chối ngay từ yêu cầu tiếp theo; muốn dùng lại phải ghép nối bằng mã "
        "mới. Dữ liệu đã nhập không bị ảnh hưởng.",
        "{name} is refused from its next request on; to use it again, pair it with a new "
        "code. The data it entered is not affected.",
    ),
    "ws_revoke_self": Text("Đây là trình duyệt bạn đang dùng: trang sẽ quay về màn hình ghép "
                           "nối.", "This is the browser you are using: the page goes back to "
                           "pairing."),
    "ws_revoked": Text("Đã thu hồi {name}", "{name} revoked"),
    "ds_title": Text("Dữ liệu kế toán trên máy chủ này", "Datasets on this server"),
    "ds_help": Text(
        "Ngắt kết nối giữ nguyên tệp dữ liệu và các thay đổi chưa đồng bộ trên máy chủ; kết "
        "nối lại thì đồng bộ tiếp từ chỗ đã dừng.",
        "Disconnecting keeps the dataset's file and its unsynced changes on this server; "
        "connecting again resumes syncing where it stopped.",
    ),
    "ds_id": Text("Mã dữ liệu", "Dataset"),
    "ds_state": Text("Trạng thái", "State"),
    "ds_pending": Text("Chưa đồng bộ", "Not synced"),
    "ds_connected": Text("Đang kết nối", "Connected"),
    "ds_disconnected": Text("Đã ngắt kết nối (giữ tệp)", "Disconnected (file kept)"),
    "ds_connect": Text("Kết nối", "Connect"),
    "ds_disconnect": Text("Ngắt kết nối", "Disconnect"),
    "ds_disconnect_title": Text("Ngắt kết nối {dataset}?", "Disconnect {dataset}?"),
    "ds_disconnect_pending": Text(
        "{pending} bản ghi của {dataset} chưa được đồng bộ lên Cloud. Chúng được giữ lại trong "
        "tệp trên máy chủ và sẽ được gửi khi kết nối lại. Trong lúc ngắt, các máy trạm không "
        "mở được dữ liệu này.",
        "{pending} record(s) of {dataset} have not reached the cloud yet. They are kept in the "
        "file on this server and are sent when it is connected again. While disconnected, "
        "workstations cannot open this dataset.",
    ),
    "ds_disconnect_none": Text(
        "Mọi bản ghi của {dataset} đã được đồng bộ. Trong lúc ngắt, các máy trạm không mở được "
        "dữ liệu này.",
        "Every record of {dataset} is synced. While disconnected, workstations cannot open "
        "this dataset.",
    ),
    "tool_collection": Text("Danh mục", "Collection"),
    "tool_collections": Text("Danh mục (bỏ trống: tất cả)", "Collections (none ticked: all)"),
    "tool_record": Text("Mã hoặc id của bản ghi", "The record's code or id"),
    "tool_refresh_title": Text("Làm mới một bản ghi", "Refresh a record"),
    "tool_refresh_help": Text(
        "Lấy ngay bản trên Cloud của một bản ghi. Bản ghi đang có thay đổi chưa đồng bộ thì "
        "được gộp hoặc thành xung đột, không bao giờ bị ghi đè.",
        "Fetch a record's cloud version now. A record with unsynced changes is merged or "
        "becomes a conflict, never overwritten.",
    ),
    "tool_refresh_button": Text("Làm mới", "Refresh"),
    "tool_not_found": Text("Không tìm thấy {key} trong {collection}", "{key} was not found in "
                           "{collection}"),
    "tool_download_title": Text("Tải lại danh mục từ Cloud", "Download collections again"),
    "tool_download_help": Text(
        "Tải lại toàn bộ các danh mục đã chọn từ Cloud và sửa những chỗ khác; thay đổi chưa "
        "đồng bộ được giữ.",
        "Download the chosen collections again from the cloud and repair what differs; "
        "unsynced changes are kept.",
    ),
    "tool_download_button": Text("Tải lại", "Download"),
    "tool_maint_title": Text("Bảo trì dữ liệu theo khoảng ngày", "Data maintenance for a date "
                             "range"),
    "tool_maint_help": Text(
        "So sánh chứng từ trong khoảng ngày với Cloud và sửa những chỗ khác.",
        "Compare the vouchers of a date range with the cloud and repair what differs.",
    ),
    "tool_date_from": Text("Từ ngày", "From"),
    "tool_date_to": Text("Đến ngày", "To"),
    "tool_maint_button": Text("Bảo trì", "Run maintenance"),
    "tool_diag_title": Text("Gói chẩn đoán", "Diagnostics bundle"),
    "tool_diag_help": Text(
        "Một tệp zip (nhật ký, cấu hình, trạng thái; không có mật khẩu hay mã truy cập) để gửi "
        "cho bộ phận hỗ trợ.",
        "A zip file (logs, configuration, status; no passwords or tokens) to send to support.",
    ),
    "tool_diag_button": Text("Tải gói chẩn đoán", "Download the bundle"),
    "tool_diag_preparing": Text("Đang tạo gói chẩn đoán…", "Preparing the bundle…"),
    "tool_diag_ready": Text("Đã tải {name} ({size})", "Downloaded {name} ({size})"),
    "job_state": {
        "queued": Text("Đang chờ", "Queued"),
        "running": Text("Đang chạy", "Running"),
        "done": Text("Xong", "Done"),
        "failed": Text("Thất bại", "Failed"),
        "interrupted": Text("Bị gián đoạn", "Interrupted"),
    },
    "job_progress": Text("{done} / {total}", "{done} / {total}"),
    "report_checked": Text("Đã kiểm tra", "Checked"),
    "report_fixed": Text("Đã sửa", "Repaired"),
    "report_needs_person": Text("Cần người xử lý", "Need a person"),
    "report_more": Text("… và {count} bản ghi khác", "… and {count} more"),
    "col_outcome": Text("Kết quả", "Outcome"),
}


# --- the sync console: overview, sync issues, record view and history (helper J's block) ---

CONSOLE_TEXTS: Catalogue = {
    "work_online": Text("Làm việc online", "Work online"),
    "conn_lost": Text(
        "Mất kết nối tới máy chủ văn phòng. Đang thử kết nối lại… Dữ liệu trên trang có thể đã "
        "cũ.",
        "Lost the connection to the office server. Reconnecting… The data on this page may be "
        "out of date.",
    ),
    "conn_back": Text("Đã kết nối lại với máy chủ văn phòng.",
                      "Connected to the office server again."),
    "stale": Text("dữ liệu có thể đã cũ", "data may be out of date"),
    "sync_running": Text("Đang đồng bộ…", "Syncing…"),
    "sync_done": Text("Đã đồng bộ: gửi {pushed}, nhận {pulled} thay đổi.",
                      "Synced: {pushed} sent, {pulled} changes received."),
    "sync_nothing": Text("Không có gì cần đồng bộ: mọi bản ghi đã được đồng bộ.",
                         "Nothing to sync: every record is synced."),
    "sync_still": Text("Vẫn đang đồng bộ: còn {count} bản ghi chưa gửi.",
                       "Still syncing: {count} records left to send."),
    "sync_cannot": Text("Chưa đồng bộ được: {why}", "Could not sync: {why}"),
    "sync_issues_left": Text(" Còn {count} bản ghi cần xử lý bên dưới.",
                             " {count} records below need attention."),
    "selfcheck": Text("Tự kiểm tra", "Self-check"),
    "review": Text("Xem và xử lý", "Review"),
    "open_record": Text("Mở bản ghi", "Open the record"),
    "waits_for": Text("Đang chờ", "Waiting for"),
    "settle_conflict": Text("Xung đột: {name}", "Conflict: {name}"),
    "settle_duplicate": Text("Trùng mã: {name}", "Duplicate code: {name}"),
    "settle_error": Text("Lỗi đồng bộ: {name}", "Sync error: {name}"),
    "settle_help_fields": Text(
        "Các trường tô màu khác nhau giữa hai văn phòng. Với mỗi trường xung đột, chọn giữ "
        "bản của tôi hay bản trên Cloud rồi bấm Gộp theo lựa chọn.",
        "Highlighted fields differ between the two offices. For each clashing field choose "
        "mine or the cloud's, then press Merge my choices.",
    ),
    "settle_help_duplicate": Text(
        "Cloud đã có một bản ghi cùng mã. Nếu đó là cùng một đối tượng, hãy dùng bản trên "
        "Cloud; nếu không, đặt mã mới cho bản của tôi.",
        "The cloud already has a record with this code. If it is the same one, use the "
        "cloud's record; if not, give mine a new code.",
    ),
    "col_field": Text("Trường", "Field"),
    "col_base": Text("Bản gốc", "Original"),
    "col_local": Text("Bản của tôi (văn phòng này)", "Mine (this office)"),
    "col_cloud": Text("Bản trên Cloud", "The cloud's"),
    "col_choice": Text("Giữ", "Keep"),
    "choice_local": Text("của tôi", "mine"),
    "choice_cloud": Text("Cloud", "cloud"),
    "deleted_copy": Text("(đã xóa)", "(deleted)"),
    "merge": Text("Gộp theo lựa chọn", "Merge my choices"),
    "restore": Text("Khôi phục bản của tôi", "Restore mine"),
    "discard_deleted": Text("Chấp nhận xóa", "Accept the deletion"),
    "link_existing": Text("Dùng bản trên Cloud", "Use the cloud's record"),
    "rename": Text("Đổi mã và gửi lại", "Rename and send again"),
    "new_key": Text("Mã mới", "New code"),
    "renumber": Text("Lấy số mới từ sổ của văn phòng này", "Take a new number from this "
                     "office's series"),
    "settled": Text("Đã xử lý {name}.", "{name} settled."),
    "confirm_title": Text("Xác nhận", "Please confirm"),
    "confirm_ok": Text("Đồng ý", "Confirm"),
    "confirm_take_cloud": Text(
        "Lấy bản trên Cloud cho {name}? Các thay đổi của văn phòng này trên bản ghi sẽ bị "
        "ghi đè và không lấy lại được.",
        "Take the cloud's version of {name}? This office's changes to it are overwritten and "
        "cannot be recovered.",
    ),
    "confirm_discard": Text(
        "Bỏ {name}? Bản ghi này sẽ bị xóa khỏi máy chủ văn phòng.",
        "Discard {name}? The record is removed from the office server.",
    ),
    "confirm_cascade": Text(
        "{name} còn {count} bản ghi phụ thuộc. Bỏ luôn cả những bản ghi này?",
        "{count} records depend on {name}. Discard them too?",
    ),
    "record_title": Text("Bản ghi", "Record"),
    "back": Text("← Quay lại", "← Back"),
    "record_posted": Text("Đã ghi sổ", "Posted"),
    "record_unposted": Text("Chưa ghi sổ", "Not posted"),
    "record_version": Text("Phiên bản trên Cloud", "Cloud version"),
    "record_deleted": Text("Đã xóa", "Deleted"),
    "history_title": Text("Lịch sử thay đổi", "History"),
    "history_none": Text("Bản ghi chưa lên Cloud lần nào.",
                         "The record has not reached the cloud yet."),
    "history_pending": Text("Thay đổi chưa gửi lên Cloud", "Changes not sent to the cloud yet"),
    "col_version": Text("Phiên bản", "Version"),
    "col_when": Text("Lúc", "When"),
    "col_office": Text("Văn phòng", "Office"),
    "col_workstation": Text("Máy trạm", "Workstation"),
    "col_changed": Text("Đã thay đổi", "What changed"),
    "col_value": Text("Giá trị", "Value"),
    "history_created": Text("Tạo mới", "Created"),
    "history_deleted": Text("Xóa", "Deleted"),
    "unknown_ws": Text("—", "—"),
    "op_action": {
        "create": Text("Tạo mới", "Create"),
        "update": Text("Sửa", "Edit"),
        "delete": Text("Xóa", "Delete"),
        "post": Text("Ghi sổ", "Post"),
        "unpost": Text("Bỏ ghi sổ", "Unpost"),
    },
    # Every field's label, per collection, from the accounting pack.
    "fields": {
        schema.name: {path: label for path, label in schema.fields.items()
                      if "." not in path and "[" not in path}
        for schema in ACCOUNTING_PACK
    },
}
TEXTS.update(CONSOLE_TEXTS)


def in_language(catalogue: Catalogue, lang: Lang) -> dict[str, Any]:
    """The catalogue in one language, nested as it is."""
    return {key: value.get(lang) if isinstance(value, Text) else in_language(value, lang)
            for key, value in catalogue.items()}


def texts_document() -> dict[str, dict[str, Any]]:
    """What ``/static/texts.json`` serves: the whole catalogue in both languages."""
    return {lang: in_language(TEXTS, lang) for lang in ("vi", "en")}
