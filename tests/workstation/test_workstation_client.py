"""The workstation client's pure parts and its failures that need no node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from protocol.errors import ErrorCode, ProtocolError
from workstation.cli import ws
from workstation.client import WorkstationClient, WorkstationError, if_match, parse_error
from workstation.profile import HOME_ENV

RECORD = {
    "id": "0b6f2f4e-8a1d-4c36-9d59-2d1f4f7f8a10", "collection": "vouchers", "key": "receipt|PT1",
    "data": {"type": "receipt"}, "local_rev": 3, "sync": {"state": "pending"},
}


@pytest.mark.parametrize(
    ("given", "sent"),
    [(7, '"7"'), ("7", '"7"'), ('"7"', '"7"'), ('W/"7"', 'W/"7"'), (" 12 ", '"12"')],
)
def test_if_match_accepts_every_etag_spelling(given: str | int, sent: str) -> None:
    assert if_match(given) == sent


def test_error_body_is_parsed_with_its_details() -> None:
    body = ProtocolError(ErrorCode.STALE_LOCAL_COPY, details={"current": RECORD}).body("vi")
    err = parse_error(409, json.dumps(body).encode(), "vi")
    assert err.code is ErrorCode.STALE_LOCAL_COPY
    assert err.status == 409
    assert err.message.startswith("Dữ liệu đã bị thay đổi")
    assert err.current is not None and err.current.local_rev == 3


def test_unknown_code_or_no_body_falls_back_on_the_status() -> None:
    odd = {"error": {"code": "FROM_THE_FUTURE", "message": "?", "details": {}}}
    assert parse_error(404, json.dumps(odd).encode(), "en").code is ErrorCode.NOT_FOUND
    proxy = parse_error(502, b"<html>Bad gateway</html>", "en")
    assert proxy.code is ErrorCode.UNAVAILABLE
    assert proxy.message == "The service is temporarily unavailable, try again."
    assert parse_error(418, b"", "en").code is ErrorCode.INTERNAL


async def test_unreachable_node_is_one_clear_error(unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    async with WorkstationClient(url, "t", language="en") as client:
        with pytest.raises(WorkstationError) as caught:
            await client.info()
    assert caught.value.code is ErrorCode.UNAVAILABLE
    assert caught.value.status == 0
    assert caught.value.message.startswith(f"Cannot reach the node at {url}: is it running?")
    assert "Connect call failed" not in caught.value.message  # no aiohttp text


def _cli(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(ws, list(args), env={HOME_ENV: str(home)})
    return result.exit_code, result.stdout, result.stderr


def test_cli_unpaired_says_so_in_one_line(tmp_path: Path) -> None:
    code, out, err = _cli(tmp_path, "list", "cty-abc", "customers")
    assert code != 0 and out == ""
    assert err.strip().splitlines() == [
        "UNAUTHORIZED: Máy trạm chưa được ghép nối. "
        "Chạy: officesync ws pair --node URL --code MÃ"
    ]
    code, _, err = _cli(tmp_path, "--lang", "en", "get", "cty-abc", "customers", "x")
    assert code != 0 and err.startswith("UNAUTHORIZED: This workstation is not paired.")


def test_cli_refuses_bad_data_before_any_request(tmp_path: Path) -> None:
    code, _, err = _cli(tmp_path, "--lang", "en", "create", "ds", "customers", "--data", "{oops")
    assert code != 0 and err.startswith("INVALID_JSON: --data is not valid JSON")
    code, _, err = _cli(tmp_path, "create", "ds", "customers", "--data", "[1, 2]")
    assert code != 0 and err.startswith("INVALID_JSON: ")


def test_cli_update_requires_an_etag(tmp_path: Path) -> None:
    code, _, err = _cli(tmp_path, "update", "ds", "customers", "x", "--data", "{}")
    assert code == 2 and "--etag" in err
