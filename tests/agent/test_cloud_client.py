"""The hub client against the real hub app (in-process, port 0) and against faulty servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubRateLimited,
    HubRejected,
    HubUnreachable,
    HubUpgradeRequired,
    push_body,
)
from hub import nodes
from hub.app import create_app
from protocol.connectivity import Connectivity
from protocol.errors import ErrorCode
from protocol.models import Action, Op
from protocol.query import RecordQuery
from tests.hub.helpers import admin, make_code

DS = "cty-abc"


def _admin_code(db_url: str) -> str:
    admin(db_url, nodes.create_dataset, DS)
    return make_code(db_url, DS)


async def _serve(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


@pytest.fixture
async def hub_url(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    db = f"sqlite:///{tmp_path}/hub.db"
    code = _admin_code(db)
    server = await _serve(create_app(db))
    yield str(server.make_url("")), code
    await server.close()


@pytest.fixture
async def enrolled(hub_url: tuple[str, str]) -> AsyncIterator[HubClient]:
    base, code = hub_url
    anonymous = HubClient(base)
    answer = await anonymous.enroll(code, "office-a")
    await anonymous.close()
    client = HubClient(base, answer.token, timeout=5)
    yield client
    await client.close()


def _op(action: Action, id: str, data: dict[str, object] | None = None,
        base: int | None = None) -> Op:
    return Op(op_id=str(uuid.uuid4()), collection="customers", id=id, action=action,
              base_version=base, data=data)


async def test_every_call_against_the_real_hub(enrolled: HubClient) -> None:
    client = enrolled
    assert (await client.health()).protocol == 1
    assert await client.datasets() == [DS]
    cid = str(uuid.uuid4())
    create = _op(Action.CREATE, cid, {"code": "KH1", "name": "A"})
    [applied] = await client.push(DS, [create])
    assert (applied.status, applied.version, applied.seq) == ("applied", 1, 1)
    [replayed] = await client.push(DS, [create])
    assert replayed.replayed is True
    [rejected] = await client.push(DS, [_op(Action.UPDATE, cid, {"code": "KH1", "name": "B"}, 7)])
    assert rejected.error is not None and rejected.error.code is ErrorCode.STALE_VERSION
    assert rejected.error.current is not None and rejected.error.current["version"] == 1

    page = await client.changes(DS, 0)
    assert [c.id for c in page.changes] == [cid] and page.last_seq == 1
    record = await client.get_record(DS, "customers", cid)
    assert record is not None and record.key == "KH1"
    assert await client.get_record(DS, "customers", str(uuid.uuid4())) is None
    listed = await client.list_records(DS, "customers", RecordQuery(key="KH1", limit=10))
    assert [r.id for r in listed["items"]] == [cid] and listed["next"] is None
    assert (await client.digest(DS, "vouchers", "2024-01-01", "2024-12-31")).buckets == []
    lease = await client.lease(DS, "PT", 50)
    assert (lease.start, lease.end) == (1, 50)
    with pytest.raises(HubRejected) as err:
        await client.changes("cty-nowhere", 0)
    assert (err.value.code, err.value.status) == (ErrorCode.DATASET_NOT_FOUND, 404)


async def test_long_poll_outlives_the_request_timeout(enrolled: HubClient) -> None:
    client = HubClient(enrolled.base_url, enrolled.token, timeout=0.5)
    try:
        waiting = asyncio.create_task(client.changes(DS, 0, wait=1.5))
        page = await asyncio.wait_for(waiting, 10)
        assert page.changes == [] and page.last_seq == 0
    finally:
        await client.close()


async def test_reset_opens_a_fresh_session(enrolled: HubClient) -> None:
    await enrolled.health()
    await enrolled.reset()
    assert (await enrolled.health()).service == "officesync-hub"


async def test_auth_and_upgrade_errors(hub_url: tuple[str, str], tmp_path: Path) -> None:
    client = HubClient(hub_url[0], "osn_wrong")
    try:
        with pytest.raises(HubAuthFailed) as err:
            await client.datasets()
        assert err.value.status == 401
    finally:
        await client.close()
    server = await _serve(create_app(f"sqlite:///{tmp_path}/new.db", min_protocol=2))
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        assert (await client.health()).min_protocol == 2
        with pytest.raises(HubUpgradeRequired):
            await client.datasets()
    finally:
        await client.close()
        await server.close()


async def _unreachable(base_url: str, seconds: float = 5.0) -> HubUnreachable:
    client = HubClient(base_url, "osn_x", timeout=seconds)
    try:
        with pytest.raises(HubUnreachable) as err:
            await client.datasets()
        return err.value
    finally:
        await client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_refused_port_is_cloud_unavailable() -> None:
    err = await _unreachable(f"http://127.0.0.1:{_free_port()}")
    assert err.kind is Connectivity.CLOUD_UNAVAILABLE


async def test_unresolvable_host_is_no_network() -> None:
    err = await _unreachable("http://nonexistent.invalid")
    assert err.kind is Connectivity.NO_NETWORK


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _raw_server(handler: RawHandler) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_hanging_server_times_out_as_cloud_unavailable() -> None:
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server, url = await _raw_server(hang)
    try:
        err = await _unreachable(url, seconds=0.3)
        assert err.kind is Connectivity.CLOUD_UNAVAILABLE and "timed out" in err.reason
    finally:
        release.set()
        server.close()
        await server.wait_closed()


async def test_truncated_body_is_cloud_unavailable() -> None:
    async def truncate(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{\"datasets\": [")
        await writer.drain()
        writer.close()

    server, url = await _raw_server(truncate)
    try:
        assert (await _unreachable(url)).kind is Connectivity.CLOUD_UNAVAILABLE
    finally:
        server.close()
        await server.wait_closed()


async def _answering(status: int, body: bytes, headers: dict[str, str]) -> TestServer:
    async def answer(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, headers=headers,
                            content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return await _serve(app)


@pytest.mark.parametrize(("status", "body"), [(500, b"oops"), (502, b""), (200, b"{not json"),
                                         (200, b'{"unexpected": true}'), (404, b"<html>")])
async def test_server_faults_are_cloud_unavailable(status: int, body: bytes) -> None:
    server = await _answering(status, body, {})
    try:
        assert (await _unreachable(str(server.make_url("")))).kind is \
            Connectivity.CLOUD_UNAVAILABLE
    finally:
        await server.close()


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_rate_limited(status: int) -> None:
    server = await _answering(status, b"{}", {"Retry-After": "7"})
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        with pytest.raises(HubRateLimited) as err:
            await client.datasets()
        assert err.value.retry_after == 7.0
    finally:
        await client.close()
        await server.close()


def test_push_body_is_the_pydantic_json_of_every_op() -> None:
    plain = [
        Op(op_id=str(uuid.uuid4()), collection="customers", id=str(uuid.uuid4()),
           action=Action.CREATE, data={"code": "KH1", "name": "Công ty Á", "n": [1, 2.5, None],
                                       "nested": {"ok": True}}),
        Op(op_id=str(uuid.uuid4()), collection="customers", id=str(uuid.uuid4()),
           action=Action.DELETE, base_version=3),
    ]
    expected = {"ops": [op.model_dump(mode="json") for op in plain]}
    assert orjson.loads(push_body(plain)) == expected
    assert list(orjson.loads(push_body(plain))["ops"][0]) == list(expected["ops"][0])


@pytest.mark.parametrize("value", [
    dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC), dt.date(2026, 11, 28), Decimal("12.50"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"), Action.POST,
])
def test_push_body_keeps_pydantic_json_for_other_values(value: object) -> None:
    op = Op(op_id=str(uuid.uuid4()), collection="vouchers", id=str(uuid.uuid4()),
            action=Action.UPDATE, base_version=1, data={"value": value, "list": [value]})
    assert orjson.loads(push_body([op])) == {"ops": [op.model_dump(mode="json")]}


# --- issue 8: every failure is a HubError; a push answer must be complete ------------------


class _Breaking:
    """A stand-in for aiohttp's response context whose ``read()`` raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.status = 200
        self.headers: dict[str, str] = {}

    async def __aenter__(self) -> _Breaking:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        raise self.error


@pytest.mark.parametrize("error", [RuntimeError("Connection closed."), ValueError("bad"),
                                   KeyError("x"), AttributeError("y"), UnicodeDecodeError(
                                       "utf-8", b"\xff", 0, 1, "invalid start byte")])
async def test_any_exception_while_reading_is_a_hub_error(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HubClient("http://127.0.0.1:9", "osn_x")
    session = client._http()
    monkeypatch.setattr(session, "request", lambda *a, **k: _Breaking(error))
    try:
        with pytest.raises(HubUnreachable) as err:
            await client.datasets()
        assert err.value.kind is Connectivity.CLOUD_UNAVAILABLE
        assert type(error).__name__ in err.value.reason
    finally:
        await client.close()


def _new_op() -> Op:
    return Op(op_id=str(uuid.uuid4()), collection="customers", id=str(uuid.uuid4()),
              action=Action.CREATE, base_version=None, data={"code": "KH1", "name": "x"})


def _result(op: Op, **fields: object) -> dict[str, object]:
    return {"op_id": op.op_id, "status": "applied", "replayed": False, "version": 1,
            "seq": 1, **fields}


@pytest.mark.parametrize("answer", [
    lambda op: [_result(op, version=None)],                          # applied, no version
    lambda op: [_result(op, version=0)],
    lambda op: [_result(op, status="rejected", version=None)],       # rejected, no error
    lambda op: [_result(op, status="maybe")],
    lambda op: [_result(op, op_id=str(uuid.uuid4()))],               # an op never sent
    lambda op: [_result(op), _result(op)],                           # twice
], ids=["no-version", "version-0", "rejected-no-error", "unknown-status", "unknown-op",
        "twice"])
async def test_a_push_answer_that_breaks_the_protocol_is_an_invalid_response(
    answer: Callable[[Op], list[dict[str, object]]],
) -> None:
    op = _new_op()
    server = await _answering(200, orjson.dumps({"results": answer(op)}), {})
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        with pytest.raises(HubUnreachable) as err:
            await client.push(DS, [op])
        assert err.value.reason.startswith("invalid response")
    finally:
        await client.close()
        await server.close()


async def test_a_complete_push_answer_is_accepted_and_a_missing_result_tolerated() -> None:
    ops = [_new_op(), _new_op()]
    body = {"results": [_result(ops[0], version=3)]}  # the second op stays pending
    server = await _answering(200, orjson.dumps(body), {})
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        results = await client.push(DS, ops)
        assert [(r.op_id, r.version) for r in results] == [(ops[0].op_id, 3)]
    finally:
        await client.close()
        await server.close()


def _rows_page(text: str) -> bytes:
    good = '{"code":"KH1","name":"Sài Gòn \\"1\\""}'
    rows = [[i + 1, "customers", str(uuid.uuid4()), 1, False, f"KH{i}", None, t]
            for i, t in enumerate([good, text, good])]
    return orjson.dumps({"form": "rows", "key_form": "1", "rows": rows, "next": None,
                         "head_seq": 3, "total": 3})


@pytest.mark.parametrize("text", ['{"code": "KH1"', '{"a": 1} {"b": 2}', '{"a": nul}',
                                  '{"a": "\\ud800"', '{} ]{'])
async def test_a_snapshot_row_whose_data_is_not_a_json_object_is_an_invalid_response(
    text: str,
) -> None:
    server = await _answering(200, _rows_page(text), {})
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        with pytest.raises(HubUnreachable) as err:
            await client.snapshot(DS)
        assert err.value.reason.startswith("invalid response: rows[1]: "), err.value.reason
    finally:
        await client.close()
        await server.close()


async def test_a_snapshot_in_the_rows_form_is_read() -> None:
    server = await _answering(200, _rows_page('{"code":"KH2"}'), {})
    client = HubClient(str(server.make_url("")), "osn_x")
    try:
        page = await client.snapshot(DS)
        assert page is not None
        assert [r.data["code"] for r in page.records] == ["KH1", "KH2", "KH1"]
    finally:
        await client.close()
        await server.close()
