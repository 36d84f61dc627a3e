"""A small synchronous client of the control API for the local CLI (``officesync status``,
``pair-code``, ``online``/``offline``, ``sync``).

It finds the node from ``<data_dir>/runtime.json`` (written by a running node with the ports it
really bound), falling back to the config's control host/port, and authenticates with
``<data_dir>/control.token``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from agent.config import Config
from agent.runtime import read_control_token, read_runtime
from protocol.i18n import Lang, Text

TIMEOUT_S = 10.0

_TEXTS: dict[str, Text] = {
    "not_running": Text(
        "máy chủ OfficeSync không chạy (không kết nối được {url})",
        "node is not running (cannot reach {url})",
    ),
    "no_token": Text(
        "không đọc được {path}: máy chủ chưa từng chạy với thư mục dữ liệu này, "
        "hoặc bạn không có quyền đọc",
        "cannot read {path}: the node never ran with this data dir, or you may not read it",
    ),
    "bad_answer": Text(
        "máy chủ trả lời không hợp lệ (HTTP {status})",
        "the node gave an invalid answer (HTTP {status})",
    ),
}


class ControlError(Exception):
    """A one-line reason, already in the user's language."""


def text(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].get(lang).format(**params)


def control_url(config: Config) -> str:
    info = read_runtime(config.data_dir)
    if info is not None:
        return info.control_url
    host = config.control.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.control.port}"


class ControlClient:
    def __init__(self, config: Config) -> None:
        self.lang: Lang = config.node.language
        self.url = control_url(config)
        self.token = read_control_token(config.data_dir)
        if not self.token:
            path = config.data_dir / "control.token"
            raise ControlError(text("no_token", self.lang, path=path))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + "/control/v1" + path,
            data=data,
            method=method,
            headers={
                "Authorization": "Bearer " + self.token,
                "Accept-Language": self.lang,
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raise ControlError(self._error_text(err)) from None
        except (urllib.error.URLError, OSError) as err:
            raise ControlError(text("not_running", self.lang, url=self.url)) from err

    def _error_text(self, err: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(err.read())["error"]
            return f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            return text("bad_answer", self.lang, status=err.code)
