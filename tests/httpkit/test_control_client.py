"""The one control client from synchronous code (``officesync status`` & co.): every failure
is one line in the chosen language, never a traceback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from httpkit.control_client import ControlError, ControlFailure, ControlTarget, call_once
from officesync.cli import main
from protocol.local import CONTROL_TOKEN_FILE, RUNTIME_FILE


class _Answers(BaseHTTPRequestHandler):
    """``GET /control/v1/status`` answers ``body`` with ``status`` (set on the server)."""

    def do_GET(self) -> None:
        status, body = self.server.answer  # type: ignore[attr-defined]
        self.server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    httpd.answer = (200, "{}")  # type: ignore[attr-defined]
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def _node_config(tmp_path: Path, url: str | None = None, token: str | None = "tok") -> Path:
    data = tmp_path / "data"
    data.mkdir()
    if token is not None:
        (data / CONTROL_TOKEN_FILE).write_text(token + "\n", encoding="ascii")
    if url is not None:
        (data / RUNTIME_FILE).write_text(json.dumps(
            {"pid": 1, "lan_url": "http://127.0.0.1:1", "control_url": url}), encoding="utf-8")
    config = tmp_path / "node.toml"
    config.write_text('[node]\ndata_dir = "data"\n[control]\nport = 0\n'
                      '[[datasets]]\nid = "cty-abc"\n', encoding="utf-8")
    return config


def _status(config: Path, lang: str) -> Result:
    return CliRunner().invoke(main, ["--lang", lang, "status", "--config", str(config)])


def _one_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not a traceback
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(("lang", "words"), [("vi", "không có quyền đọc"),
                                             ("en", "you may not read")])
def test_an_unreadable_token_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lang: str, words: str
) -> None:
    config = _node_config(tmp_path, "http://127.0.0.1:9")
    real = Path.read_text

    def denied(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == CONTROL_TOKEN_FILE:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", denied)
    line = _one_line(_status(config, lang))
    assert words in line and "control.token" in line and "Errno" not in line


@pytest.mark.parametrize("body", ["<html>a proxy page</html>", "[1, 2]", '{"online": 3}'])
@pytest.mark.parametrize(("lang", "words"), [("vi", "máy chủ trả lời không hợp lệ (HTTP 200)"),
                                             ("en", "the node gave an invalid answer (HTTP 200)")])
def test_an_answer_that_is_not_a_status_is_one_line_not_a_traceback(
    tmp_path: Path, server: ThreadingHTTPServer, lang: str, words: str, body: str
) -> None:
    server.answer = (200, body)  # type: ignore[attr-defined]
    config = _node_config(tmp_path, f"http://127.0.0.1:{server.server_port}")
    assert _one_line(_status(config, lang)) == words


def test_a_refusal_is_the_nodes_code_and_message(
    tmp_path: Path, server: ThreadingHTTPServer
) -> None:
    server.answer = (401, json.dumps({"error": {  # type: ignore[attr-defined]
        "code": "UNAUTHORIZED", "message": "Chưa xác thực", "details": {}}}))
    config = _node_config(tmp_path, f"http://127.0.0.1:{server.server_port}", token="stale")
    assert _one_line(_status(config, "vi")) == "UNAUTHORIZED: Chưa xác thực"
    assert server.seen == ["Bearer stale"]  # type: ignore[attr-defined]


def test_port_zero_and_no_runtime_file_says_not_running(tmp_path: Path) -> None:
    line = _one_line(_status(_node_config(tmp_path), "en"))
    assert line.startswith("node is not running") and "runtime.json" in line


def test_call_once_reaches_the_node_from_runtime_json(
    tmp_path: Path, server: ThreadingHTTPServer
) -> None:
    server.answer = (200, json.dumps({"online": True}))  # type: ignore[attr-defined]
    _node_config(tmp_path, f"http://127.0.0.1:{server.server_port}/")
    where = ControlTarget(tmp_path / "data", "127.0.0.1", 9)  # the file wins over the port
    assert call_once(where, "en", "GET", "/status") == {"online": True}


def test_nothing_listening_is_not_running_with_the_address(tmp_path: Path) -> None:
    _node_config(tmp_path, token="t")
    with pytest.raises(ControlError) as err:
        call_once(ControlTarget(tmp_path / "data", "::1", 9), "vi", "GET", "/status")
    assert err.value.reason is ControlFailure.NOT_RUNNING
    assert str(err.value) == "máy chủ OfficeSync không chạy (không kết nối được http://[::1]:9)"
