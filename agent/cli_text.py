"""Every line the node commands print (``serve``, ``status``, ``enroll``…), in Vietnamese and
English, and the pure functions that turn a library's failure (a config file pydantic refused,
an ``OSError`` from ``bind``) into words of the chosen language. No I/O here."""

from __future__ import annotations

import errno
import re
from typing import Any

import click
from pydantic import ValidationError

from protocol.i18n import LANG_META_KEY, Lang, Text, as_lang

_TEXTS: dict[str, Text] = {
    # --- status screen ---
    "dataset": Text("Dữ liệu", "Dataset"),
    "connected": Text("Kết nối", "Connected"),
    "not_connected": Text("chưa kết nối", "not connected"),
    "kept_unsynced": Text("giữ {count} bản ghi chưa đồng bộ",
                          "{count} unsynced records kept"),
    "synced": Text("Đã đồng bộ", "Synced"),
    "pending": Text("Chưa đồng bộ", "Pending"),
    "syncing": Text("Đang đồng bộ", "Syncing"),
    "error": Text("Đồng bộ lỗi", "Sync error"),
    "conflict": Text("Xung đột", "Conflict"),
    "blocked": Text("Bị chặn", "Blocked"),
    "workstations": Text("Máy trạm đã ghép nối", "Paired workstations"),
    "version": Text("Phiên bản", "Version"),
    "online_on": Text("Làm việc online: bật", "Work online: on"),
    "online_off": Text("Làm việc online: tắt", "Work online: off"),
    "sync_requested": Text("Đã yêu cầu đồng bộ", "Sync requested"),
    "hub": Text("Cloud", "Cloud hub"),
    "token_keyring": Text("Mã truy cập Cloud: lưu trong kho khóa của hệ điều hành",
                          "Cloud token: kept in the OS keyring"),
    "token_file": Text("Mã truy cập Cloud: lưu trong tệp hub.token (quyền 0600) trong thư mục dữ "
                       "liệu, vì máy này không có kho khóa của hệ điều hành",
                       "Cloud token: kept in the file hub.token (mode 0600) in the data dir, as "
                       "this machine has no OS keyring"),
    "config_error": Text("Tệp cấu hình vừa sửa không hợp lệ, vẫn dùng cấu hình đang chạy",
                         "The edited config file is invalid; the running config stays"),
    "not_enrolled": Text(
        "Máy chủ chưa đăng ký với Cloud {hub}. Chạy: officesync enroll --config {config} "
        "--hub {hub} --code MÃ (mã lấy từ quản trị viên Cloud: officesync hub enroll-code)",
        "This node is not enrolled with the hub {hub} yet. Run: officesync enroll --config "
        "{config} --hub {hub} --code CODE (the code comes from the hub's administrator: "
        "officesync hub enroll-code)",
    ),
    # --- config file ---
    "config_missing": Text(
        "Không có tệp cấu hình {path}. Kiểm tra đường dẫn --config (mẫu: config.example.toml)",
        "No config file at {path}. Check the --config path (example: config.example.toml)",
    ),
    "config_unreadable": Text("Không đọc được tệp cấu hình {path}: {reason}",
                              "Cannot read the config file {path}: {reason}"),
    "config_toml": Text(
        "Tệp cấu hình {path} sai cú pháp TOML ở dòng {line}, cột {column}",
        "The config file {path} is not valid TOML at line {line}, column {column}",
    ),
    "config_invalid": Text("Tệp cấu hình {path} có giá trị sai: {problems}",
                           "The config file {path} has wrong values: {problems}"),
    # --- serve ---
    "busy": Text(
        "Một tiến trình OfficeSync khác đang dùng thư mục dữ liệu {dir} (pid {pid}, {url}). "
        "Không chạy thêm: dừng tiến trình đó trước, hoặc dùng thư mục dữ liệu khác",
        "Another OfficeSync process is using the data dir {dir} (pid {pid}, {url}). "
        "Not starting a second one: stop that one first, or use another data dir",
    ),
    "busy_starting": Text("đang khởi động", "starting"),
    "port_in_use": Text(
        "Không khởi động được: cổng {port} trên {host} đang được chương trình khác dùng. "
        "Đổi cổng trong tệp cấu hình, hoặc dừng chương trình kia",
        "Cannot start: port {port} on {host} is used by another program. Change the port "
        "in the config file, or stop the other program",
    ),
    "address_unavailable": Text(
        "Không khởi động được: máy này không có địa chỉ {host}. Sửa host trong tệp cấu hình",
        "Cannot start: this machine has no address {host}. Fix the host in the config file",
    ),
    "no_permission": Text(
        "Không khởi động được: không có quyền mở cổng {port} hoặc ghi thư mục dữ liệu",
        "Cannot start: no permission to open port {port} or to write the data dir",
    ),
    "cannot_start": Text("Không khởi động được máy chủ (lỗi hệ điều hành {errno})",
                         "Cannot start the node (operating system error {errno})"),
    # --- enroll ---
    "enroll_bad_code": Text(
        "Mã đăng ký không hợp lệ hoặc đã hết hạn hay đã dùng. Xin quản trị viên Cloud mã mới "
        "(officesync hub enroll-code --dataset …) rồi chạy lại officesync enroll",
        "This enrollment code is not valid, expired or already used. Get a new one from the "
        "hub's administrator (officesync hub enroll-code --dataset …) and run officesync "
        "enroll again",
    ),
    "enroll_is_node": Text(
        "Địa chỉ {url} là một máy chủ văn phòng OfficeSync, không phải Cloud. Dùng địa chỉ "
        "của Cloud cho --hub (quản trị viên Cloud biết địa chỉ này)",
        "The address {url} is an OfficeSync node, not a hub. Give the hub's address to "
        "--hub (the hub's administrator knows it)",
    ),
    "enroll_not_hub": Text(
        "Địa chỉ {url} không phải Cloud OfficeSync (HTTP {status}). Kiểm tra --hub",
        "The address {url} is not an OfficeSync hub (HTTP {status}). Check --hub",
    ),
    "enroll_unreachable": Text(
        "Không kết nối được Cloud tại {url}: Cloud có đang chạy không? Kiểm tra địa chỉ "
        "--hub và mạng",
        "Cannot reach the hub at {url}: is it running? Check the --hub address and the "
        "network",
    ),
    "enroll_upgrade": Text(
        "Cloud {url} yêu cầu phiên bản chương trình mới hơn: cập nhật OfficeSync trên máy này",
        "The hub {url} requires a newer version: upgrade OfficeSync on this machine",
    ),
    "enroll_hub_failing": Text(
        "Cloud {url} đang gặp sự cố (HTTP {status}): thử lại sau ít phút, hoặc báo quản trị "
        "viên Cloud",
        "The hub {url} is failing (HTTP {status}): try again in a few minutes, or tell the "
        "hub's administrator",
    ),
    "enroll_busy": Text("Cloud đang bận: thử lại sau {seconds} giây",
                        "The hub is busy: try again in {seconds} s"),
    "enroll_rejected": Text("Cloud từ chối đăng ký: {message}",
                            "The hub refused the enrollment: {message}"),
    "bad_url": Text(
        "Địa chỉ {url} không dùng được: hãy viết dạng http://máy:cổng hoặc https://máy",
        "The address {url} is not usable: write it as http://host:port or https://host",
    ),
}

_CONFIG_PROBLEMS: dict[str, Text] = {
    "missing": Text("thiếu giá trị", "is missing"),
    "extra_forbidden": Text("không phải khóa cấu hình (xem config.example.toml)",
                            "is not a config key (see config.example.toml)"),
    "int_parsing": Text("phải là số nguyên", "must be a whole number"),
    "int_type": Text("phải là số nguyên", "must be a whole number"),
    "int_from_float": Text("phải là số nguyên", "must be a whole number"),
    "float_parsing": Text("phải là số", "must be a number"),
    "float_type": Text("phải là số", "must be a number"),
    "bool_parsing": Text("phải là true hoặc false", "must be true or false"),
    "bool_type": Text("phải là true hoặc false", "must be true or false"),
    "string_type": Text("phải là chuỗi trong ngoặc kép", "must be a quoted string"),
    "list_type": Text("phải là danh sách", "must be a list"),
    "model_type": Text("phải là một bảng [..]", "must be a table [..]"),
    "dict_type": Text("phải là một bảng [..]", "must be a table [..]"),
    "path_type": Text("phải là đường dẫn", "must be a path"),
    "greater_than": Text("phải lớn hơn {gt}", "must be greater than {gt}"),
    "greater_than_equal": Text("phải từ {ge} trở lên", "must be at least {ge}"),
    "less_than": Text("phải nhỏ hơn {lt}", "must be less than {lt}"),
    "less_than_equal": Text("phải không quá {le}", "must be at most {le}"),
    "literal_error": Text("phải là một trong: {expected}", "must be one of: {expected}"),
    "string_too_short": Text("không được để trống", "must not be empty"),
    "string_too_long": Text("dài quá {max_length} ký tự", "is longer than {max_length} characters"),
    "string_pattern_mismatch": Text(
        "phải là mã gồm chữ thường không dấu, số, '-' hoặc '_' (ví dụ cty-abc)",
        "must be an id of lowercase letters, digits, '-' or '_' (e.g. cty-abc)",
    ),
}
# Messages of the config's own validators (agent/config.py), in words.
_VALIDATOR_TEXTS: dict[str, Text] = {
    "loopback only": Text("chỉ được là 127.0.0.1 hoặc ::1 (API điều khiển chỉ nghe nội bộ)",
                          "must be 127.0.0.1 or ::1 (the control API listens on loopback only)"),
    "listed twice": Text("có một dữ liệu kế toán được khai báo hai lần",
                         "a dataset is listed twice"),
}
_UNKNOWN_PROBLEM = Text("giá trị không hợp lệ", "has a wrong value")


def text(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].get(lang).format(**params)


def _problem(error: Any, lang: Lang) -> str:
    kind = str(error.get("type", ""))
    if kind == "value_error":
        message = str(error.get("msg", ""))
        found = next((v for k, v in _VALIDATOR_TEXTS.items() if k in message), _UNKNOWN_PROBLEM)
        return found.get(lang)
    template = _CONFIG_PROBLEMS.get(kind, _UNKNOWN_PROBLEM).get(lang)
    ctx = {k: str(v) for k, v in (error.get("ctx") or {}).items()}
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return _UNKNOWN_PROBLEM.get(lang)


def config_problems(err: ValidationError, lang: Lang) -> str:
    """``lan.port phải không quá 65535; node.bogus không phải khóa cấu hình …``."""
    parts = []
    for error in err.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"]) or Text("(tệp)", "(file)").get(lang)
        parts.append(f"{where} {_problem(error, lang)}")
    return "; ".join(parts)


_TOML_POSITION = re.compile(r"at line (\d+), column (\d+)")
_BIND_ADDRESS = re.compile(r"\('([^']*)', (\d+)")


def toml_position(reason: str) -> tuple[str, str]:
    found = _TOML_POSITION.search(reason)
    return (found[1], found[2]) if found else ("?", "?")


def start_failure(err: OSError, lang: Lang) -> str:
    """Why ``serve`` could not start, from the ``OSError`` of a bind or a file."""
    found = _BIND_ADDRESS.search(str(err))
    host, port = (found[1], found[2]) if found else ("?", "?")
    if err.errno == errno.EADDRINUSE:
        return text("port_in_use", lang, host=host, port=port)
    if err.errno == errno.EADDRNOTAVAIL:
        return text("address_unavailable", lang, host=host)
    if err.errno in (errno.EACCES, errno.EPERM):
        return text("no_permission", lang, port=port)
    return text("cannot_start", lang, errno=err.errno)


# --- the language of a command -----------------------------------------------------------

lang_option = click.option(
    "--lang", type=click.Choice(["vi", "en"]), default=None,
    help="Language of messages (vi/en); default: the config's node.language.",
)


def chosen_lang(explicit: str | None) -> Lang | None:
    """``--lang`` of the command, else ``officesync --lang`` / ``OFFICESYNC_LANG``."""
    picked = as_lang(explicit)
    if picked is not None:
        return picked
    ctx = click.get_current_context(silent=True)
    return as_lang(ctx.meta.get(LANG_META_KEY)) if ctx is not None else None
