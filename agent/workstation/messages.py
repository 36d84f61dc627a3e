"""The workstation client's own messages (the node's come in its error bodies), vi and en."""

from __future__ import annotations

from typing import Any

from protocol.errors import ErrorCode
from protocol.i18n import Lang

# key -> (code the CLI prints, vi, en)
_MESSAGES: dict[str, tuple[ErrorCode, str, str]] = {
    "unreachable": (
        ErrorCode.UNAVAILABLE,
        "Không kết nối được máy chủ {url}: {reason}",
        "Cannot reach the server at {url}: {reason}",
    ),
    "fingerprint": (
        ErrorCode.FORBIDDEN,
        "Dấu vân tay chứng chỉ TLS của máy chủ {url} không khớp với dấu vân tay đã ghép nối",
        "The TLS certificate fingerprint of {url} does not match the paired one",
    ),
    "not_paired": (
        ErrorCode.UNAUTHORIZED,
        "Máy trạm chưa được ghép nối. Chạy: officesync ws pair --node URL --code MÃ",
        "This workstation is not paired. Run: officesync ws pair --node URL --code CODE",
    ),
    "bad_profile": (
        ErrorCode.VALIDATION_FAILED,
        "Hồ sơ máy trạm {path} bị hỏng ({reason}). Hãy ghép nối lại",
        "The workstation profile {path} is damaged ({reason}). Pair again.",
    ),
    "token_missing": (
        ErrorCode.UNAUTHORIZED,
        "Không đọc được mã truy cập của máy trạm ({reason}). Hãy ghép nối lại",
        "Cannot read this workstation's access token ({reason}). Pair again.",
    ),
    "bad_json": (
        ErrorCode.INVALID_JSON,
        "Dữ liệu --data không phải JSON hợp lệ: {reason}",
        "--data is not valid JSON: {reason}",
    ),
    "bad_response": (
        ErrorCode.INTERNAL,
        "Máy chủ trả lời không đúng định dạng (HTTP {status})",
        "The server sent an unexpected answer (HTTP {status})",
    ),
    "token_in_keyring": (
        ErrorCode.INTERNAL,
        "Mã truy cập được lưu trong kho khóa của hệ điều hành ({where})",
        "The access token is kept in the OS keyring ({where})",
    ),
    "token_in_file": (
        ErrorCode.INTERNAL,
        "Không có kho khóa của hệ điều hành: mã truy cập được lưu trong tệp {where} "
        "(chỉ người dùng này đọc được)",
        "No OS keyring available: the access token is kept in the file {where} "
        "(readable by this user only)",
    ),
}


def text(key: str, lang: Lang, **params: Any) -> str:
    _, vi, en = _MESSAGES[key]
    return (vi if lang == "vi" else en).format(**params)


def code_of(key: str) -> ErrorCode:
    return _MESSAGES[key][0]
