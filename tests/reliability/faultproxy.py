"""A small HTTP/1.1 proxy that breaks the node ↔ hub link on a fixed-seed schedule.

Each request from the node is read whole, then one fault is drawn for it from a seeded
``random.Random`` (so a seed replays the same sequence of decisions), and the proxy acts it
out: pass it on, answer for the hub, or pass it on and spoil the answer. Besides the faults on
single requests, the proxy stops listening now and then (connection refused) and drops every
open connection with it. :meth:`FaultProxy.heal` ends the faults: from then on every request
passes unchanged and requests held in a hang are released (closed).

Nothing here is specific to OfficeSync except that the upstream is plain HTTP/1.1 with
``Content-Length`` request bodies (what the node's hub client sends).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

HEAD_LIMIT = 64 * 1024
UPSTREAM_TIMEOUT = 90.0  # longer than any long-poll the node asks for
HOP_HEADERS = {b"connection", b"keep-alive", b"content-length", b"transfer-encoding",
               b"accept-encoding", b"proxy-connection"}


class Fault(StrEnum):
    PASS = "pass"
    REFUSED = "refused"  # the listener is closed for a while (counted once per outage)
    RESET_BEFORE = "reset_before_answer"
    RESET_MID = "reset_mid_answer"
    HANG = "hang"
    SLOW = "slow_trickle"
    TRUNCATED = "truncated_body"
    MANGLED = "mangled_json"
    GARBAGE = "garbage_bytes"
    ERROR_5XX = "http_5xx"
    RETRY_AFTER = "429_503_retry_after"
    APPLIED_502 = "502_after_applied"
    TWICE = "delivered_twice"


REQUEST_FAULTS = [f for f in Fault if f not in (Fault.PASS, Fault.REFUSED)]


@dataclass
class Request:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def encode_upstream(self, host: str, port: int) -> bytes:
        lines = [b" ".join((self.method, self.target, b"HTTP/1.1"))]
        lines += [k + b": " + v for k, v in self.headers
                  if k.lower() not in HOP_HEADERS and k.lower() != b"host"]
        lines += [f"Host: {host}:{port}".encode(), b"Connection: close",
                  f"Content-Length: {len(self.body)}".encode()]
        return b"\r\n".join(lines) + b"\r\n\r\n" + self.body


@dataclass
class Response:
    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def head(self, length: int | None = None) -> bytes:
        lines = [f"HTTP/1.1 {self.status} ".encode() + self.reason]
        lines += [k + b": " + v for k, v in self.headers if k.lower() not in HOP_HEADERS]
        lines.append(f"Content-Length: {len(self.body) if length is None else length}".encode())
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def encode(self) -> bytes:
        return self.head() + self.body


def own_answer(status: int, reason: str, body: bytes = b"",
               extra: list[tuple[bytes, bytes]] | None = None) -> Response:
    """An answer made up by the proxy (plain text, as a real gateway would send)."""
    headers = [(b"Content-Type", b"text/plain; charset=utf-8"), *(extra or [])]
    return Response(status, reason.encode(), headers, body)


def _split_head(raw: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    first, *lines = raw.split(b"\r\n")
    headers = []
    for line in lines:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers.append((name.strip(), value.strip()))
    return first, headers


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    return next((v for k, v in headers if k.lower() == name), None)


def dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        pos = end + 2 + size + 2


def parse_response(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    first, headers = _split_head(head)
    parts = first.split(b" ", 2)
    if _header(headers, b"transfer-encoding") == b"chunked":
        body = dechunk(body)
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, body)


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a client connection, or ``None`` once the client hangs up."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    first, headers = _split_head(raw[:-4])
    method, target, version = [*first.split(b" ", 2), b"", b""][:3]
    length = int(_header(headers, b"content-length") or 0)
    try:
        body = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return Request(method, target, version, headers, body)


def rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass
class Schedule:
    """Which fault each request gets: a seeded draw, ``fault_rate`` of requests faulted."""

    seed: int
    fault_rate: float = 0.35
    hang_s: float = 12.0
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def draw(self) -> Fault:
        if self.rng.random() >= self.fault_rate:
            return Fault.PASS
        return self.rng.choice(REQUEST_FAULTS)


class FaultProxy:
    """``listen on 127.0.0.1:port`` → ``upstream``; faults while :attr:`faulting`."""

    def __init__(self, upstream_port: int, schedule: Schedule, *,
                 upstream_host: str = "127.0.0.1", refuse_every: tuple[float, float] = (3, 7),
                 refuse_for: tuple[float, float] = (0.5, 2.0)) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.schedule = schedule
        self.refuse_every, self.refuse_for = refuse_every, refuse_for
        self.faulting = False
        self.cut = False  # a partition: every request is reset, whatever the schedule
        self.counts: Counter[str] = Counter()
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._healed = asyncio.Event()
        self._refuser: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def injected(self) -> int:
        return sum(n for kind, n in self.counts.items() if kind != Fault.PASS)

    async def start(self, port: int = 0) -> FaultProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", port or self.port, limit=HEAD_LIMIT, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def begin_faults(self) -> None:
        self.faulting = True
        self._healed.clear()
        self._refuser = asyncio.create_task(self._refuse_now_and_then())

    async def heal(self) -> None:
        self.faulting = False
        self._healed.set()
        if self._refuser is not None:
            self._refuser.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refuser
            self._refuser = None
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.heal()
        await self._stop_listening()

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            rst(writer)
        if server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)

    async def _refuse_now_and_then(self) -> None:
        rng = random.Random(self.schedule.seed + 1)
        while self.faulting:
            await asyncio.sleep(rng.uniform(*self.refuse_every))
            await self._stop_listening()
            self.counts[Fault.REFUSED] += 1
            await asyncio.sleep(rng.uniform(*self.refuse_for))
            await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while (request := await read_request(reader)) is not None:
                fault = (Fault.RESET_BEFORE if self.cut else
                         self.schedule.draw() if self.faulting else Fault.PASS)
                self.requests += 1
                self.counts[fault] += 1
                if not await self._act(fault, request, writer):
                    break
        except (ConnectionError, TimeoutError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            if not writer.transport.is_closing():
                writer.close()

    async def _forward(self, request: Request) -> Response:
        host, port = self.upstream
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(request.encode_upstream(host, port))
            await writer.drain()
            raw = await asyncio.wait_for(reader.read(), UPSTREAM_TIMEOUT)
        finally:
            writer.close()
        return parse_response(raw)

    async def _act(self, fault: Fault, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer ``request`` as ``fault`` says; False when the connection is done."""
        rng = self.schedule.rng
        if fault is Fault.RESET_BEFORE:
            rst(writer)
            return False
        if fault is Fault.GARBAGE:
            writer.write(rng.randbytes(rng.randint(16, 512)))
            await writer.drain()
            writer.close()
            return False
        if fault is Fault.ERROR_5XX:
            status = rng.choice([500, 502, 504])
            writer.write(own_answer(status, "Gateway Error", b"upstream failed").encode())
            await writer.drain()
            return True
        if fault is Fault.RETRY_AFTER:
            status = rng.choice([429, 503])
            wait = str(rng.choice([0, 1, 2])).encode()
            writer.write(own_answer(status, "Busy", b"busy", [(b"Retry-After", wait)]).encode())
            await writer.drain()
            return True
        if fault is Fault.HANG:
            if rng.random() < 0.5:  # half the hangs after the hub has applied the request
                with contextlib.suppress(OSError, TimeoutError, ValueError, IndexError):
                    await self._forward(request)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._healed.wait(), self.schedule.hang_s)
            writer.close()
            return False
        try:
            answer = await self._forward(request)
            if fault is Fault.TWICE:
                answer = await self._forward(request)
        except (OSError, TimeoutError, ValueError, IndexError):
            rst(writer)
            return False
        return await self._spoil(fault, answer, writer, rng)

    async def _spoil(self, fault: Fault, answer: Response, writer: asyncio.StreamWriter,
                     rng: random.Random) -> bool:
        body = answer.body
        if fault is Fault.APPLIED_502:
            writer.write(own_answer(502, "Bad Gateway", b"bad gateway").encode())
        elif fault is Fault.RESET_MID:
            writer.write(answer.head() + body[: len(body) // 2])
            await writer.drain()
            rst(writer)
            return False
        elif fault is Fault.TRUNCATED:
            writer.write(answer.head(len(body)) + body[: rng.randint(0, max(0, len(body) - 1))])
            await writer.drain()
            writer.close()
            return False
        elif fault is Fault.MANGLED:
            answer.body = rng.choice([b'{"', b"[", b"{{", b"\xff"]) + body[: len(body) // 2]
            writer.write(answer.encode())
        elif fault is Fault.SLOW:
            data = answer.encode()
            step = max(8, len(data) // 25)
            for start in range(0, len(data), step):
                writer.write(data[start:start + step])
                await writer.drain()
                await asyncio.sleep(0.1)
        else:
            writer.write(answer.encode())
        await writer.drain()
        return True
