"""The LAN listener's limits (issue 8, defect 9 and 11): connection caps per address and in
total, header/body timeouts, TLS counted from the first packet, JSON errors for requests the
HTTP parser refuses, a raised file descriptor limit, and rate-limited logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.app import NodeContext, _start, build_context, create_control_app, create_lan_app
from agent.lan_api.guard import ConnectionTable, Limits, Verdict
from agent.lan_api.listener import LISTENING, Guard, raise_fd_limit
from agent.logs import RateLimitFilter
from tests.agent.conftest import AppClient, FakeClock, make_config
from workstation.tls import pinned_fingerprint

UNIT = Path(__file__).resolve().parents[2] / "installer" / "linux" / "officesync.service"
PARTIAL = b"GET /api/v1/info HTTP/1.1\r\nHost: node\r\n"  # headers never finished


# --- the table (pure) --------------------------------------------------------------------


def test_table_refuses_beyond_the_per_address_cap() -> None:
    table: ConnectionTable[int] = ConnectionTable(Limits(100, 2))
    assert table.admit(1, "10.0.0.9")[0] is Verdict.ADMIT
    assert table.admit(2, "10.0.0.9")[0] is Verdict.ADMIT
    assert table.admit(3, "10.0.0.9") == (Verdict.REFUSE_ADDRESS, None)
    assert table.admit(4, "10.0.0.8")[0] is Verdict.ADMIT  # another device is not affected
    table.release(1)
    table.release(1)  # twice is harmless
    assert table.count("10.0.0.9") == 1
    assert table.admit(5, "10.0.0.9")[0] is Verdict.ADMIT


def test_table_full_evicts_the_oldest_idle_never_a_busy_one() -> None:
    table: ConnectionTable[int] = ConnectionTable(Limits(3, None))
    for conn in (1, 2, 3):
        table.admit(conn, f"10.0.0.{conn}")
    table.set_busy(1, True)  # handling a request: keeps its place
    assert table.admit(4, "10.0.0.4") == (Verdict.ADMIT, 2)
    table.set_busy(3, True)
    table.set_busy(4, True)
    assert table.admit(5, "10.0.0.5") == (Verdict.REFUSE_TOTAL, None)
    table.set_busy(1, False)  # done: idle again, and now the oldest idle
    assert table.admit(5, "10.0.0.5") == (Verdict.ADMIT, 1)
    assert len(table) == 3
    assert table.stats.evicted == 2 and table.stats.refused_total == 1


def test_table_full_evicts_a_connection_that_never_sent_a_request_first() -> None:
    table: ConnectionTable[str] = ConnectionTable(Limits(3, None))
    table.admit("workstation", "10.0.0.1")
    table.started("workstation")
    table.set_busy("workstation", False)  # served one request, idle keep-alive now
    table.admit("flood-1", "10.0.0.66")
    table.admit("flood-2", "10.0.0.66")
    assert table.admit("flood-3", "10.0.0.66") == (Verdict.ADMIT, "flood-1")
    assert table.admit("flood-4", "10.0.0.66") == (Verdict.ADMIT, "flood-2")
    assert table.admit("flood-5", "10.0.0.66") == (Verdict.ADMIT, "flood-3")
    assert table.count("10.0.0.1") == 1  # the workstation's connection stayed


def test_limits_fit_below_the_descriptor_limit() -> None:
    assert Limits(512).fitted(65536).max_connections == 512
    assert Limits(512).fitted(1024).max_connections == 512
    assert Limits(2000).fitted(1024).max_connections == 1024 - 256
    assert Limits(None, None).fitted(1024).max_connections is None  # no cap: kept


def test_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
        assert raise_fd_limit() == hard
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_systemd_unit_raises_the_descriptor_limit() -> None:
    assert "LimitNOFILE=65536" in UNIT.read_text(encoding="utf-8").splitlines()


# --- a real listener -----------------------------------------------------------------------


LIMITS = {"max_connections": 16, "max_connections_per_ip": 8, "header_timeout_s": 0.5,
          "body_timeout_s": 0.5}


@pytest.fixture
async def node(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[NodeContext, int, Guard]]:
    ctx = await build_context(make_config(tmp_path / "node", lan=LIMITS), clock=clock)
    app = create_lan_app(ctx)
    runner, port = await _start(app, "127.0.0.1", 0)
    guard = app[LISTENING].guard
    assert guard is not None
    yield ctx, port, guard
    await runner.cleanup()
    await ctx.close()


async def _open(port: int, source: str = "127.0.0.1", **kw: Any) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0), **kw)


async def _served(port: int, source: str, tls: bool = False) -> tuple[
        asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that made one request and stays open (idle keep-alive)."""
    context = None
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    reader, writer = await _open(port, source, ssl=context)
    writer.write(b"GET /api/v1/info HTTP/1.1\r\nHost: node\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    await reader.readexactly(length)
    return reader, writer


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True when the server closes (EOF or reset) within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def _get(port: int, path: str = "/api/v1/info", scheme: str = "http",
               **kw: Any) -> tuple[int, Any]:
    timeout = aiohttp.ClientTimeout(total=2)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(
            f"{scheme}://127.0.0.1:{port}{path}", **kw) as resp:
        return resp.status, await resp.json()


async def test_unfinished_headers_are_closed_after_the_header_timeout(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, guard = node
    silent = await _open(port)
    partial = await _open(port)
    partial[1].write(PARTIAL)
    started = time.monotonic()
    assert await _closed_within(partial[0], 3.0)
    assert await _closed_within(silent[0], 3.0)
    elapsed = time.monotonic() - started
    assert 0.3 < elapsed < 3.0
    assert guard.stats["header_timeouts"] == 2 and guard.stats["open"] == 0
    assert (await _get(port))[0] == 200


async def test_trickled_headers_do_not_extend_the_deadline(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, _guard = node
    reader, writer = await _open(port)

    async def trickle() -> None:  # one byte every 50 ms: 2 s for the whole partial request
        with contextlib.suppress(ConnectionError):
            for byte in PARTIAL:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    started = time.monotonic()
    try:
        assert await _closed_within(reader, 3.0)
        assert time.monotonic() - started < 1.5  # closed at ~0.5 s, not kept alive by bytes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_request_on_a_kept_connection_has_its_own_header_clock(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, guard = node
    reader, writer = await _served(port, "127.0.0.1")  # the connection's clock stopped
    started = time.monotonic()
    for _ in range(3):  # 0.9 s of complete requests on one connection: none is late
        await asyncio.sleep(0.3)
        writer.write(b"GET /api/v1/info HTTP/1.1\r\nHost: node\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
    assert time.monotonic() - started > LIMITS["header_timeout_s"]
    assert guard.stats["header_timeouts"] == 0
    await asyncio.sleep(0.3)
    writer.write(PARTIAL)  # then a request whose headers never end: late from its first byte
    sent = time.monotonic()
    assert await _closed_within(reader, 3.0)
    assert 0.3 < time.monotonic() - sent < 1.5
    assert guard.stats["header_timeouts"] == 1


async def test_a_slow_body_gets_408_json(node: tuple[NodeContext, int, Guard]) -> None:
    _ctx, port, guard = node
    reader, writer = await _open(port)
    writer.write(b"POST /api/v1/pair HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{\"code\":")
    async with asyncio.timeout(3):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        body = await reader.readexactly(length)
    assert head.startswith(b"HTTP/1.1 408"), head
    assert b"Connection: close" in head
    assert b"application/json" in head
    error = json.loads(body)["error"]
    assert error["code"] == "REQUEST_TIMEOUT" and "quá chậm" in error["message"]
    assert guard.stats["body_timeouts"] == 1


async def test_per_address_cap_refuses_at_once_other_devices_get_in(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, guard = node
    held = [await _served(port, "127.0.0.2") for _ in range(8)]  # no header clock
    extra = await _open(port, "127.0.0.2")
    assert await _closed_within(extra[0], 0.3)  # refused at once, not after the timeout
    assert (await _get(port))[0] == 200  # from 127.0.0.1
    assert guard.stats["refused_address"] == 1
    for _reader, writer in held:
        writer.close()


async def test_total_cap_makes_room_by_closing_the_oldest_idle(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, guard = node
    # 2 addresses x 8: the total cap, no address over its own
    idle = [await _served(port, f"127.0.0.{3 + i % 2}") for i in range(16)]
    async with asyncio.timeout(2):
        while guard.stats["open"] < 16:  # noqa: ASYNC110 - the server side accepts them
            await asyncio.sleep(0.01)
    assert (await _get(port))[0] == 200
    assert guard.stats["evicted"] >= 1
    assert await _closed_within(idle[0][0], 0.3)  # the oldest gave its place


async def test_requests_the_parser_refuses_get_the_json_error(
    node: tuple[NodeContext, int, Guard]
) -> None:
    _ctx, port, _guard = node
    status, body = await _get(port, "/api/v1/datasets?q=" + "x" * 9000)
    assert status == 400
    error = body["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert "quá dài" in error["message"] and error["details"]["limit_bytes"] == 8190
    headers = {"X-Long": "y" * 9000}
    status, body = await _get(port, headers=headers)
    assert status == 400 and body["error"]["code"] == "VALIDATION_FAILED"


async def test_control_listener_has_the_timeouts_but_no_caps(
    tmp_path: Path, clock: FakeClock
) -> None:
    ctx = await build_context(make_config(tmp_path / "node", lan=LIMITS), clock=clock)
    app = create_control_app(ctx)
    runner, port = await _start(app, "127.0.0.1", 0)
    try:
        guard = app[LISTENING].guard
        assert guard is not None and guard.limits.max_connections is None
        held = [await _open(port) for _ in range(20)]  # over the LAN's caps: all admitted
        assert guard.stats["refused_address"] == guard.stats["refused_total"] == 0
        assert await _closed_within(held[0][0], 3.0)  # but closed for sending nothing
    finally:
        await runner.cleanup()
        await ctx.close()


async def test_tls_connections_are_counted_and_timed_before_the_handshake(
    tmp_path: Path, clock: FakeClock
) -> None:
    ctx = await build_context(make_config(tmp_path / "node", lan={**LIMITS, "tls": True}),
                              clock=clock)
    app = create_lan_app(ctx)
    runner, port = await _start(app, "127.0.0.1", 0, ctx.tls)
    try:
        guard = app[LISTENING].guard
        assert guard is not None and ctx.tls is not None
        pin = pinned_fingerprint(ctx.tls.fingerprint_sha256)
        assert (await _get(port, scheme="https", ssl=pin))[0] == 200
        held = [await _served(port, "127.0.0.5", tls=True) for _ in range(8)]
        extra = await _open(port, "127.0.0.5")  # TCP only, no ClientHello
        assert await _closed_within(extra[0], 0.3)  # refused before any handshake
        assert guard.stats["refused_address"] == 1
        for _reader, writer in held:
            writer.close()
        silent = await _open(port, "127.0.0.6")
        assert await _closed_within(silent[0], 3.0)  # handshake never started: closed
        assert guard.stats["header_timeouts"] >= 1
        status, body = await _get(port, "/api/v1/datasets", scheme="https", ssl=pin)
        assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"
    finally:
        await runner.cleanup()
        await ctx.close()


# --- rate-limited logs ---------------------------------------------------------------------


def _record(msg: str, *args: object, exc: BaseException | None = None,
            level: int = logging.ERROR) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("officesync.test", level, __file__, 1, msg, args, exc_info)


def test_log_filter_lets_one_line_per_kind_per_interval() -> None:
    clock = FakeClock(0)
    limit = RateLimitFilter(10, clock=clock)
    passed = [limit.filter(_record("accept failed: %s", i, exc=OSError(24, "Too many")))
              for i in range(1000)]
    assert passed.count(True) == 1
    other = _record("could not open %s", "x.db", exc=OSError(24, "Too many"))
    assert limit.filter(other)  # another message template: its own kind
    assert limit.filter(_record("accept failed: %s", 1, exc=ValueError()))  # another exception
    assert limit.filter(_record("accept failed: %s", 1, level=logging.INFO))  # INFO: never
    clock.advance(10)
    again = _record("accept failed: %s", 7, exc=OSError(24, "Too many"))
    assert limit.filter(again)
    assert again.getMessage() == ("accept failed: 7 [999 more like this in the last 10 s were "
                                  "not logged]")


def test_log_filter_judges_a_record_once_for_all_handlers() -> None:
    limit = RateLimitFilter(10, clock=FakeClock(0))
    record = _record("boom")
    assert limit.filter(record) and limit.filter(record)  # the second handler sees it too
    assert not limit.filter(_record("boom"))


# --- JSON errors where aiohttp answered plain text -----------------------------------------


async def test_an_unknown_static_file_answers_the_json_error(lan: AppClient) -> None:
    for lang, words in (("vi", "Không tìm thấy tệp nope.js"), ("en", "File nope.js not found")):
        resp = await lan.get("/static/nope.js", headers={"Accept-Language": lang})
        assert resp.status == 404 and resp.content_type == "application/json"
        error = (await resp.json())["error"]
        assert error["code"] == "NOT_FOUND" and words in error["message"]
        assert error["details"] == {"path": "/static/nope.js"}
    assert (await lan.get("/static/app.js")).status == 200


def test_the_node_log_is_rate_limited(tmp_path: Path) -> None:
    from agent.cli import setup_logging
    from agent.config import LogSection

    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    log_file = tmp_path / "node.log"
    try:
        setup_logging(LogSection(level="INFO", file=log_file))
        flood = logging.getLogger("asyncio")
        for _ in range(5000):
            try:
                raise OSError(24, "Too many open files")
            except OSError:
                flood.exception("socket.accept() out of system resource")
        logging.getLogger("officesync.node").info("still here")
        for handler in root.handlers:
            handler.flush()
        text = log_file.read_text(encoding="utf-8")
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved
        root.setLevel(level)
    assert text.count("out of system resource") == 1 and "still here" in text
    assert len(text) < 2000, len(text)
