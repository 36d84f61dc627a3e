"""One error taxonomy: codes, HTTP statuses and Vietnamese/English messages (docs/protocol.md).

Messages may hold ``{placeholders}``; :func:`render` fills the ones it is given and leaves a
readable text when a parameter is missing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from protocol.i18n import Lang, Text


class ErrorCode(StrEnum):
    """Every error code of the product; each has an HTTP status and a message in both languages."""

    DUPLICATE_KEY = "DUPLICATE_KEY"
    MISSING_REFERENCE = "MISSING_REFERENCE"
    STALE_VERSION = "STALE_VERSION"
    RECORD_DELETED = "RECORD_DELETED"
    STALE_LOCAL_COPY = "STALE_LOCAL_COPY"
    VALIDATION_FAILED = "VALIDATION_FAILED"
    NOT_FOUND = "NOT_FOUND"
    DATASET_NOT_CONNECTED = "DATASET_NOT_CONNECTED"
    DATASET_NOT_FOUND = "DATASET_NOT_FOUND"
    DATASET_ALREADY_CONNECTED = "DATASET_ALREADY_CONNECTED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    BLOCKED = "BLOCKED"
    INTERNAL = "INTERNAL"
    # HTTP-level input errors (docs/protocol.md, "Error codes").
    INVALID_JSON = "INVALID_JSON"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    PRECONDITION_REQUIRED = "PRECONDITION_REQUIRED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    UNAVAILABLE = "UNAVAILABLE"
    PAIRING_CODE_INVALID = "PAIRING_CODE_INVALID"
    # The LAN listener: a body too slow to arrive; a pairing code used a moment ago.
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    PAIRING_CODE_USED = "PAIRING_CODE_USED"
    # "Sync now" that cannot sync: offline by the user's choice, no hub, not enrolled.
    OFFLINE_BY_USER = "OFFLINE_BY_USER"
    NOT_CONFIGURED = "NOT_CONFIGURED"
    NOT_ENROLLED = "NOT_ENROLLED"
    JOB_RUNNING = "JOB_RUNNING"
    CLOUD_UNREACHABLE = "CLOUD_UNREACHABLE"
    # Settling a refused record (S5, S6): an action that does not apply to it; a discard of a
    # record other local records still refer to.
    RESOLUTION_REFUSED = "RESOLUTION_REFUSED"
    HAS_DEPENDENTS = "HAS_DEPENDENTS"
    # The dashboard's browser sessions: a state-changing request not from the node's own page
    # (cross-site, or without the session's CSRF token); an admin action from elsewhere than
    # the node's own machine.
    CSRF_REJECTED = "CSRF_REJECTED"
    ADMIN_ONLY = "ADMIN_ONLY"

    @property
    def http_status(self) -> int:
        """The HTTP status an error with this code answers with."""
        return _STATUS[self]


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.DUPLICATE_KEY: 409,
    ErrorCode.MISSING_REFERENCE: 409,
    ErrorCode.STALE_VERSION: 409,
    ErrorCode.RECORD_DELETED: 409,
    ErrorCode.STALE_LOCAL_COPY: 409,
    ErrorCode.VALIDATION_FAILED: 422,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.DATASET_NOT_CONNECTED: 409,
    ErrorCode.DATASET_NOT_FOUND: 404,
    ErrorCode.DATASET_ALREADY_CONNECTED: 409,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UPGRADE_REQUIRED: 426,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BLOCKED: 409,
    ErrorCode.INTERNAL: 500,
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.PRECONDITION_REQUIRED: 428,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PAIRING_CODE_INVALID: 403,
    ErrorCode.REQUEST_TIMEOUT: 408,
    ErrorCode.PAIRING_CODE_USED: 409,
    ErrorCode.OFFLINE_BY_USER: 409,
    ErrorCode.NOT_CONFIGURED: 409,
    ErrorCode.NOT_ENROLLED: 409,
    ErrorCode.JOB_RUNNING: 409,
    ErrorCode.CLOUD_UNREACHABLE: 503,
    ErrorCode.RESOLUTION_REFUSED: 409,
    ErrorCode.HAS_DEPENDENTS: 409,
    ErrorCode.CSRF_REJECTED: 403,
    ErrorCode.ADMIN_ONLY: 403,
}

# The code an HTTP status stands for when an answer carries no error body of ours (an
# aiohttp HTTPException on the server, a proxy's answer on the client).
_CODE_OF_STATUS: dict[int, ErrorCode] = {
    400: ErrorCode.VALIDATION_FAILED,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: ErrorCode.VALIDATION_FAILED,
    426: ErrorCode.UPGRADE_REQUIRED,
    428: ErrorCode.PRECONDITION_REQUIRED,
    408: ErrorCode.REQUEST_TIMEOUT,
    429: ErrorCode.RATE_LIMITED,
    502: ErrorCode.UNAVAILABLE,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.UNAVAILABLE,
}


def code_for_status(status: int) -> ErrorCode:
    """The error code that stands for an HTTP status (``INTERNAL`` for one without)."""
    return _CODE_OF_STATUS.get(status, ErrorCode.INTERNAL)


# The Vietnamese texts of S6, S9 and S10 are the seed article's own words.
MESSAGES: dict[ErrorCode, Text] = {
    ErrorCode.DUPLICATE_KEY: Text(
        "{label} {key} đã tồn tại. Vui lòng kiểm tra lại{hint}",
        "{label} {key} already exists. Please check again.{hint}",
    ),
    ErrorCode.MISSING_REFERENCE: Text(
        "Không tìm thấy {label} {ref} ({field}). Hãy tạo hoặc đồng bộ {label} đó trước, "
        "hoặc chọn mã khác{hint}",
        "{label} {ref} was not found ({field}). Create or sync it first, or choose another "
        "code.{hint}",
    ),
    # {record}: the record as the accountant knows it ("Khách hàng KH100"); {hint}: what
    # differed and what to do (agent/store/conflicts.py).
    ErrorCode.STALE_VERSION: Text(
        "{record} đã được {changed} bởi người dùng khác{hint}",
        "{record} was {changed} by another user.{hint}",
    ),
    ErrorCode.RECORD_DELETED: Text(
        "{record} đã bị xóa bởi người dùng khác{hint}",
        "{record} was deleted by another user.{hint}",
    ),
    ErrorCode.STALE_LOCAL_COPY: Text(
        "Dữ liệu đã bị thay đổi, vui lòng thực hiện đồng bộ dữ liệu với máy chủ",
        "Data has changed, please sync with the server.",
    ),
    ErrorCode.VALIDATION_FAILED: Text(
        "Dữ liệu không hợp lệ: {reason}",
        "Invalid data: {reason}",
    ),
    ErrorCode.NOT_FOUND: Text(
        "Không tìm thấy {what}{hint}",
        "{what} not found.{hint}",
    ),
    # {hint}: the datasets that are connected (agent/store/manager.py).
    ErrorCode.DATASET_NOT_CONNECTED: Text(
        "Dữ liệu kế toán {dataset} hiện không được kết nối trên máy chủ này. "
        "Hãy kết nối lại dữ liệu đó; các thay đổi chưa đồng bộ vẫn được giữ nguyên{hint}",
        "Accounting dataset {dataset} is not connected on this server. "
        "Reconnect it; its unsynced changes are kept.{hint}",
    ),
    ErrorCode.DATASET_ALREADY_CONNECTED: Text(
        "Dữ liệu kế toán {dataset} đã được kết nối trên máy chủ này rồi; không cần làm gì thêm",
        "Accounting dataset {dataset} is already connected on this server; nothing to do.",
    ),
    ErrorCode.DATASET_NOT_FOUND: Text(
        "Không tìm thấy dữ liệu kế toán {dataset}{hint}",
        "Accounting dataset {dataset} was not found.{hint}",
    ),
    ErrorCode.UNAUTHORIZED: Text(
        "Chưa xác thực hoặc mã truy cập không hợp lệ{hint}",
        "Not authenticated or the access token is invalid.{hint}",
    ),
    ErrorCode.FORBIDDEN: Text(
        "Không có quyền thực hiện thao tác này",
        "You are not allowed to do this.",
    ),
    ErrorCode.UPGRADE_REQUIRED: Text(
        "Phiên bản chương trình đã cũ, cần cập nhật lên phiên bản mới rồi khởi động lại",
        "This program version is too old: upgrade it, then restart.",
    ),
    ErrorCode.PAYLOAD_TOO_LARGE: Text(
        "Dữ liệu gửi lên quá lớn (tối đa {limit})",
        "The request body is too large (limit {limit}).",
    ),
    ErrorCode.RATE_LIMITED: Text(
        "Quá nhiều yêu cầu, vui lòng thử lại sau {retry_after} giây",
        "Too many requests, try again in {retry_after} seconds.",
    ),
    ErrorCode.BLOCKED: Text(
        "Đang chờ {blocked_by} đồng bộ thành công: {blocked_by} chưa được Cloud nhận. "
        "Hãy xử lý {blocked_by} trước; bản ghi này sẽ tự đồng bộ sau đó",
        "Waiting for {blocked_by} to sync successfully: the cloud has not accepted "
        "{blocked_by} yet. Settle {blocked_by} first; this record then syncs by itself.",
    ),
    ErrorCode.INTERNAL: Text(
        "Lỗi hệ thống. Hãy gửi nhật ký (log) của dịch vụ cho bộ phận hỗ trợ",
        "Internal error. Send the service's log to support.",
    ),
    ErrorCode.INVALID_JSON: Text(
        "Nội dung gửi lên không phải JSON hợp lệ: {reason}",
        "The request body is not valid JSON: {reason}",
    ),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: Text(
        "Kiểu nội dung không được hỗ trợ (cần {expected})",
        "Unsupported content type (expected {expected}).",
    ),
    ErrorCode.PRECONDITION_REQUIRED: Text(
        "Thiếu tiêu đề If-Match: hãy tải lại bản ghi rồi gửi kèm ETag",
        "The If-Match header is required: reload the record and send its ETag.",
    ),
    ErrorCode.METHOD_NOT_ALLOWED: Text(
        "Phương thức không được hỗ trợ",
        "Method not allowed.",
    ),
    ErrorCode.UNAVAILABLE: Text(
        "Dịch vụ tạm thời không sẵn sàng, vui lòng thử lại",
        "The service is temporarily unavailable, try again.",
    ),
    ErrorCode.PAIRING_CODE_INVALID: Text(
        "Mã ghép nối không đúng, đã dùng hoặc đã hết hạn. Hãy lấy mã mới trên máy chủ",
        "The pairing code is wrong, used or expired. Get a new code on the server.",
    ),
    ErrorCode.REQUEST_TIMEOUT: Text(
        "Dữ liệu gửi lên đến quá chậm (quá {seconds} giây). Hãy kiểm tra mạng rồi gửi lại",
        "The request took too long to arrive (over {seconds} seconds). Check the network, "
        "then send it again.",
    ),
    ErrorCode.PAIRING_CODE_USED: Text(
        "Mã ghép nối này vừa được dùng để ghép nối một máy trạm. Nếu bạn vừa bấm hai lần, "
        "máy trạm đã được ghép nối; nếu không, hãy lấy mã mới trên máy chủ",
        "This pairing code was just used to pair a workstation. If you clicked twice, the "
        "workstation is already paired; otherwise get a new code on the server.",
    ),
    ErrorCode.OFFLINE_BY_USER: Text(
        "Máy chủ đang làm việc offline theo lựa chọn của người dùng: bật \"Làm việc online\" "
        "(officesync online) để đồng bộ",
        "This node is working offline by the user's choice: turn on \"Work online\" "
        "(officesync online) to sync.",
    ),
    ErrorCode.NOT_CONFIGURED: Text(
        "Máy chủ này chưa kết nối với Cloud nên không có gì để đồng bộ: đăng ký máy chủ với "
        "Cloud bằng officesync enroll",
        "This node is not connected to a cloud hub, so there is nothing to sync with: enroll "
        "it with officesync enroll.",
    ),
    ErrorCode.NOT_ENROLLED: Text(
        "Đã có địa chỉ Cloud nhưng máy chủ này chưa được đăng ký: chạy officesync enroll với "
        "mã do quản trị viên Cloud cấp",
        "A cloud address is set but this node is not enrolled yet: run officesync enroll with "
        "a code from the hub administrator.",
    ),
    # {job}: the running job's id, {kind}: what it does ("tải lại" / "re-download"...).
    ErrorCode.JOB_RUNNING: Text(
        "Dữ liệu {dataset} đang có một công việc chạy ({kind}, mã {job}): chờ nó xong (xem "
        "GET /jobs/{job}) rồi thử lại",
        "Dataset {dataset} already has a job running ({kind}, id {job}): wait for it to end "
        "(see GET /jobs/{job}), then try again.",
    ),
    # {reason}: the connectivity message (protocol.connectivity.CONNECTIVITY_MESSAGES).
    ErrorCode.CLOUD_UNREACHABLE: Text(
        "Việc này cần kết nối Cloud nhưng hiện không kết nối được: {reason}",
        "This needs the cloud, which cannot be reached now: {reason}",
    ),
    ErrorCode.RESOLUTION_REFUSED: Text(
        "Không thể xử lý {name} theo cách \"{action}\": {reason}",
        "{name} cannot be settled by \"{action}\": {reason}",
    ),
    # {what}: discarded (a resolution) or deleted (a workstation's delete); {hint}: what to do.
    ErrorCode.HAS_DEPENDENTS: Text(
        "Không thể {what} {name}: {count} bản ghi khác đang dùng đến nó ({dependents}){hint}",
        "{name} cannot be {what}: {count} other records refer to it ({dependents}).{hint}",
    ),
    ErrorCode.CSRF_REJECTED: Text(
        "Yêu cầu bị từ chối: nó không đến từ bảng điều khiển của máy chủ này ({reason}). "
        "Hãy tải lại trang rồi thử lại",
        "Request refused: it did not come from this server's dashboard ({reason}). Reload the "
        "page and try again.",
    ),
    ErrorCode.ADMIN_ONLY: Text(
        "Chỉ làm được việc này từ bảng điều khiển mở trên chính máy chủ OfficeSync "
        "(http://127.0.0.1:{port}/)",
        "This can only be done from the dashboard opened on the OfficeSync server itself "
        "(http://127.0.0.1:{port}/).",
    ),
}


class _Defaulting(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "" if key in _OPTIONAL else "?"


# Parameters a template may hold that are simply left out when not given.
_OPTIONAL = frozenset({"hint"})


# Parameters a template reads in a general way when the caller names nothing more precise.
_DEFAULTS: dict[ErrorCode, dict[str, Any]] = {
    ErrorCode.HAS_DEPENDENTS: {
        "what": Text("bỏ", "discarded"),
        "hint": Text(". Hãy liên kết với bản trên Cloud (link_existing) hoặc đổi mã (rename) "
                     "trước, hoặc bỏ luôn các bản ghi đó (cascade)",
                     " Link it to the cloud's record (link_existing) or change its code "
                     "(rename) first, or discard those records too (cascade)."),
    },
    ErrorCode.STALE_VERSION: {"record": Text("Bản ghi", "The record"),
                              "changed": Text("sửa/bỏ ghi/xóa", "modified/unposted/deleted")},
    ErrorCode.RECORD_DELETED: {"record": Text("Bản ghi", "The record")},
    # Said by the node's LAN and control APIs; the hub says what a node's operator does.
    ErrorCode.UNAUTHORIZED: {"hint": Text(". Hãy ghép nối lại máy trạm",
                                          " Pair this device again.")},
}


def changed_words(postable: bool) -> dict[str, str]:
    """``{changed}`` of ``STALE_VERSION``: a voucher can be unposted too, a customer only
    modified ("Khách hàng KH100 đã được sửa", never "bỏ ghi")."""
    return (_DEFAULTS[ErrorCode.STALE_VERSION]["changed"] if postable
            else Text("sửa", "modified")).as_dict()


def _with_defaults(code: ErrorCode, params: dict[str, Any] | None) -> dict[str, Any]:
    defaults = _DEFAULTS.get(code)
    return {**defaults, **(params or {})} if defaults else (params or {})


def render(code: ErrorCode, lang: Lang, params: dict[str, Any] | None = None) -> str:
    """The message of ``code`` in ``lang`` with ``params`` filled in."""
    # A parameter may itself be bilingual (a Text or {"vi": …, "en": …}), e.g. a label.
    return MESSAGES[code].format_map(_with_defaults(code, params), _Defaulting).get(lang)


def messages(code: ErrorCode, params: dict[str, Any] | None = None) -> dict[str, str]:
    """Both languages at once: ``{"vi": …, "en": …}``."""
    return MESSAGES[code].format_map(_with_defaults(code, params), _Defaulting).as_dict()


class ErrorDetail(BaseModel):
    """The ``error`` object of an error response: code, message, details."""

    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """An error response body, ``{"error": {...}}``."""

    error: ErrorDetail


class ProtocolError(Exception):
    """An error carrying a code, message parameters and machine-readable details.

    Every package raises this (or a subclass); one middleware per server turns it into an
    ``{"error": …}`` response with the code's HTTP status.
    """

    def __init__(
        self,
        code: ErrorCode,
        params: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        # Bilingual parameters are kept in their wire shape ({"vi": …, "en": …}): params may be
        # sent as they are (a hub push result) and stored as JSON.
        self.params = {k: v.as_dict() if isinstance(v, Text) else v
                       for k, v in (params or {}).items()}
        self.details = dict(details or {})
        self.status = status or code.http_status
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {render(code, 'en', self.params)}")

    def body(self, lang: Lang) -> dict[str, Any]:
        """The error response body, its message in ``lang``."""
        return {
            "error": {
                "code": self.code.value,
                "message": render(self.code, lang, self.params),
                "details": self.details,
            }
        }
