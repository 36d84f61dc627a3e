"""The workstation client's own messages (the node's come in its error bodies), vi and en."""

from __future__ import annotations

from typing import Any

from protocol.errors import ErrorCode
from protocol.i18n import Lang, Text
from workstation.tls import MISMATCH_MESSAGE

# key -> (code the CLI prints, message)
_MESSAGES: dict[str, tuple[ErrorCode, Text]] = {
    "unreachable": (ErrorCode.UNAVAILABLE, Text(
        "Không kết nối được máy chủ OfficeSync tại {url}: máy chủ có đang chạy không? "
        "(trên máy chủ: officesync status; trong mạng LAN: officesync ws discover)",
        "Cannot reach the node at {url}: is it running? (on the node: officesync status; "
        "on the LAN: officesync ws discover)",
    )),
    "is_hub": (ErrorCode.VALIDATION_FAILED, Text(
        "Địa chỉ {url} là Cloud OfficeSync, không phải máy chủ văn phòng. Máy trạm ghép nối "
        "với máy chủ văn phòng: dùng địa chỉ của nó (bảng điều khiển, hoặc officesync ws "
        "discover)",
        "The address {url} is an OfficeSync hub, not a node. A workstation pairs with the "
        "office's node: use its address (its dashboard, or officesync ws discover)",
    )),
    "bad_url": (ErrorCode.VALIDATION_FAILED, Text(
        "Địa chỉ {url} không dùng được: hãy viết dạng http://máy:cổng hoặc https://máy:cổng",
        "The address {url} is not usable: write it as http://host:port or https://host:port",
    )),
    "file_not_found": (ErrorCode.NOT_FOUND, Text(
        "Không tìm thấy tệp {path} (--data @{path})",
        "File not found: {path} (--data @{path})",
    )),
    "file_unreadable": (ErrorCode.VALIDATION_FAILED, Text(
        "Không đọc được tệp {path} (--data @{path}): không có quyền, là thư mục, hoặc không "
        "phải văn bản UTF-8",
        "Cannot read the file {path} (--data @{path}): no permission, a folder, or not UTF-8 "
        "text",
    )),
    "not_object": (ErrorCode.INVALID_JSON, Text(
        "Dữ liệu --data phải là một đối tượng JSON {{…}} (các trường trong ngoặc nhọn)",
        "--data must be a JSON object {{…}} (fields inside braces)",
    )),
    "fingerprint": (ErrorCode.FORBIDDEN, MISMATCH_MESSAGE),
    "not_paired": (ErrorCode.UNAUTHORIZED, Text(
        "Máy trạm chưa được ghép nối. Chạy: officesync ws pair --node URL --code MÃ",
        "This workstation is not paired. Run: officesync ws pair --node URL --code CODE",
    )),
    "bad_profile": (ErrorCode.VALIDATION_FAILED, Text(
        "Hồ sơ máy trạm {path} bị hỏng. Hãy ghép nối lại: officesync ws pair --node URL "
        "--code MÃ",
        "The workstation profile {path} is damaged. Pair again: officesync ws pair --node URL "
        "--code CODE",
    )),
    "token_missing": (ErrorCode.UNAUTHORIZED, Text(
        "Không đọc được mã truy cập của máy trạm (trong kho khóa hoặc tệp mã). Hãy ghép nối "
        "lại: officesync ws pair --node URL --code MÃ",
        "Cannot read this workstation's access token (from the keyring or its file). Pair "
        "again: officesync ws pair --node URL --code CODE",
    )),
    "bad_json": (ErrorCode.INVALID_JSON, Text(
        "Dữ liệu --data không phải JSON hợp lệ (sai ở dòng {line}, cột {column})",
        "--data is not valid JSON (wrong at line {line}, column {column})",
    )),
    "bad_response": (ErrorCode.INTERNAL, Text(
        "Máy chủ trả lời không đúng định dạng (HTTP {status})",
        "The server sent an unexpected answer (HTTP {status})",
    )),
    "token_in_keyring": (ErrorCode.INTERNAL, Text(
        "Mã truy cập được lưu trong kho khóa của hệ điều hành ({where})",
        "The access token is kept in the OS keyring ({where})",
    )),
    "token_in_file": (ErrorCode.INTERNAL, Text(
        "Không có kho khóa của hệ điều hành: mã truy cập được lưu trong tệp {where} "
        "(chỉ người dùng này đọc được)",
        "No OS keyring available: the access token is kept in the file {where} "
        "(readable by this user only)",
    )),
    "bad_fingerprint": (ErrorCode.VALIDATION_FAILED, Text(
        "--fingerprint không phải dấu vân tay SHA-256 (64 chữ số hex): {value}",
        "--fingerprint is not a SHA-256 fingerprint (64 hex digits): {value}",
    )),
    "fingerprint_needs_https": (ErrorCode.VALIDATION_FAILED, Text(
        "Đã cho dấu vân tay TLS nhưng địa chỉ máy chủ {url} không dùng https",
        "A TLS fingerprint was given but the node URL {url} is not https",
    )),
    "fingerprint_conflict": (ErrorCode.FORBIDDEN, Text(
        "Dấu vân tay --fingerprint khác với dấu vân tay máy chủ {name} quảng bá ({advertised})",
        "--fingerprint differs from the one node {name} advertises ({advertised})",
    )),
    "pair_fingerprint_mismatch": (ErrorCode.FORBIDDEN, Text(
        "Chứng chỉ TLS của máy chủ {url} có dấu vân tay {got}, không phải {expected}. "
        "Chưa ghép nối",
        "The node at {url} presented a TLS certificate with fingerprint {got}, not "
        "{expected}. Not paired.",
    )),
    "no_tls_fingerprint": (ErrorCode.FORBIDDEN, Text(
        "Máy chủ {url} dùng https nhưng không cho biết dấu vân tay chứng chỉ. "
        "Hãy dùng --fingerprint",
        "The node at {url} uses https but does not state its certificate fingerprint. "
        "Pass --fingerprint.",
    )),
    "node_or_discover": (ErrorCode.VALIDATION_FAILED, Text(
        "Hãy chỉ định --node URL hoặc --discover [TÊN], không dùng cả hai",
        "Give --node URL or --discover [NAME], not both",
    )),
    "no_nodes": (ErrorCode.NOT_FOUND, Text(
        "Không tìm thấy máy chủ OfficeSync nào trong mạng LAN (đã chờ {timeout} giây)",
        "No OfficeSync node found on the LAN (waited {timeout} s)",
    )),
    "node_not_found": (ErrorCode.NOT_FOUND, Text(
        "Không tìm thấy máy chủ tên {name}. Các máy chủ tìm thấy: {found}",
        "No node named {name}. Nodes found: {found}",
    )),
    "ambiguous_node": (ErrorCode.VALIDATION_FAILED, Text(
        "Tìm thấy nhiều máy chủ: {found}. Hãy chọn một: --discover TÊN hoặc --node URL",
        "Several nodes found: {found}. Choose one: --discover NAME or --node URL",
    )),
    # ws resolve / ws conflicts (S5, S6, S9)
    "bad_action": (ErrorCode.VALIDATION_FAILED, Text(
        "Cách xử lý {action} không có. Hãy chọn một trong: {actions}",
        "There is no resolution {action}. Choose one of: {actions}",
    )),
    "bad_choice": (ErrorCode.VALIDATION_FAILED, Text(
        "--choose {value} không đúng dạng: hãy viết TRƯỜNG=local hoặc TRƯỜNG=cloud "
        "(local: giữ giá trị của văn phòng này, cloud: lấy giá trị trên Cloud)",
        "--choose {value} is not usable: write FIELD=local or FIELD=cloud (local: keep this "
        "office's value, cloud: take the cloud's)",
    )),
    "key_not_found": (ErrorCode.NOT_FOUND, Text(
        "Không tìm thấy {label} có mã {key} trong dữ liệu {ds} (hãy xem: officesync ws "
        "conflicts {ds})",
        "No {label} with the key {key} in dataset {ds} (see: officesync ws conflicts {ds})",
    )),
    "key_ambiguous": (ErrorCode.VALIDATION_FAILED, Text(
        "Có nhiều {label} mã {key} đang chờ xử lý: hãy dùng id của bản ghi ({ids})",
        "Several {label} records with the key {key} wait: use the record's id ({ids})",
    )),
}

# Labels of ``officesync ws discover``'s human output.
_LABELS: dict[str, Text] = {
    "version": Text("phiên bản", "version"),
    "datasets": Text("dữ liệu", "datasets"),
    "tls_off": Text("TLS: tắt", "TLS: off"),
    "none": Text("(không có)", "(none)"),
}


class LocalError(Exception):
    """A failure found on the workstation itself (bad option, no node found, ...); the
    message is rendered in the caller's language with :meth:`text`."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(text(key, "en", **params))

    @property
    def code(self) -> ErrorCode:
        return code_of(self.key)

    def text(self, lang: Lang) -> str:
        return text(self.key, lang, **self.params)


def label(key: str, lang: Lang) -> str:
    return _LABELS[key].get(lang)


def text(key: str, lang: Lang, /, **params: Any) -> str:
    return _MESSAGES[key][1].get(lang).format(**params)


def code_of(key: str) -> ErrorCode:
    return _MESSAGES[key][0]
