"""Stand-ins for the hub in outage and shutdown tests, run on the test's event loop, bound to
127.0.0.1 on free ports, each counting what reached it:

* :class:`FaultServer` — a TCP listener that resets every connection, holds it open without
  answering (a hung hub), or answers HTTP 500 to every request; or nothing at all (refused).
* :class:`FakeHub` — speaks enough of the hub protocol (health, datasets, lease, push, an
  empty snapshot, changes) for a node to go online, with switches to hang pushes or pulls,
  slow a drain down, or feed an endless change feed (a node that is always pulling).

And :func:`fake_enroll`, which makes a node's data dir look enrolled (node.db hub setting,
token file) without a hub, so its sync engine runs against these.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
import struct
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.config import load_config
from agent.secrets import NodeSecrets
from agent.store.node import NodeDB
from agent.sync.engine import HUB_SETTING
from agent.tls import ensure_certificate, server_ssl_context


async def fake_enroll(config: Path, hub_url: str, datasets: list[str]) -> None:
    data_dir = load_config(config).data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    secrets = NodeSecrets(data_dir)
    secrets.file.parent.mkdir(parents=True, exist_ok=True)
    secrets.file.write_text("osn_fake-token-for-tests", encoding="utf-8")
    os.chmod(secrets.file, 0o600)
    node_db = NodeDB(data_dir / "node.db")
    await node_db.open()
    try:
        await node_db.set_setting(HUB_SETTING, {
            "url": hub_url, "node_id": str(uuid.uuid4()), "datasets": datasets,
            "token_store": "file"})
    finally:
        await node_db.close()


class FaultServer:
    """``mode``: ``refused`` (nothing listens), ``reset`` (RST at once), ``hang`` (accept,
    read, never answer), ``http500`` (answer 500 to each request, keep-alive) or
    ``bad_cert`` (TLS with a self-signed certificate the node does not trust; pass
    ``cert_dir``)."""

    def __init__(self, mode: str, cert_dir: Path | None = None) -> None:
        self.mode = mode
        self.cert_dir = cert_dir
        self.accepts = 0
        self.requests = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._held: list[asyncio.StreamWriter] = []
        self._tls: ssl.SSLContext | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.mode == "bad_cert" else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def probes(self, accepts: int, requests: int) -> int:
        """How many probes those counts stand for: a request each (http500), a connection
        each (hang; a TLS client that cannot shake hands), two connections each (reset:
        aiohttp tries an idempotent request once more on a fresh connection)."""
        if self.mode == "http500":
            return requests
        return accepts // 2 if self.mode == "reset" else accepts

    async def start(self) -> FaultServer:
        if self.mode == "refused":
            with socket.socket() as sock:  # a port nothing listens on
                sock.bind(("127.0.0.1", 0))
                self.port = sock.getsockname()[1]
            return self
        if self.mode == "bad_cert":
            assert self.cert_dir is not None
            self._tls = server_ssl_context(ensure_certificate(self.cert_dir, ["127.0.0.1"]))
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        self._held.append(writer)
        if self.mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if self.mode == "bad_cert":  # counted before the handshake, which the client refuses
            with contextlib.suppress(Exception):
                await writer.start_tls(self._tls)
            writer.transport.abort()
            return
        if self.mode == "hang":
            return
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                self.requests += 1
                writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                             b"Connection: keep-alive\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    async def stop(self) -> None:
        for writer in self._held:
            writer.transport.abort()
        await asyncio.sleep(0.05)  # let the handlers see the end of their connections
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class FakeHub:
    """Enough of the hub for a node to sync with; switches: ``hang_push``, ``hang_pull``,
    ``push_delay`` (seconds per push), ``endless_feed`` (every page has more)."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.hang_push = False
        self.hang_pull = False
        self.push_delay = 0.0
        self.endless_feed = False
        self.pushed = 0
        self.pages = 0
        self.seq = 0
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()  # ends the hung requests at stop
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeHub:
        app = web.Application()
        app.router.add_get("/v1/health", self._health)
        app.router.add_get("/v1/datasets", self._datasets)
        app.router.add_post("/v1/datasets/{ds}/series/{series}/lease", self._lease)
        app.router.add_post("/v1/datasets/{ds}/push", self._push)
        app.router.add_get("/v1/datasets/{ds}/snapshot", self._snapshot)
        app.router.add_get("/v1/datasets/{ds}/changes", self._changes)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"service": "officesync-hub", "protocol": 1, "min_protocol": 1})

    async def _datasets(self, request: web.Request) -> web.Response:
        return web.json_response({"datasets": [self.dataset]})

    async def _lease(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seq += 1
        start = self.seq * 100_000
        return web.json_response({"series": request.match_info["series"], "start": start,
                                  "end": start + int(body["count"]) - 1})

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.hang_push:
            await self._released.wait()
        await asyncio.sleep(self.push_delay)
        results = []
        for op in body["ops"]:
            self.seq += 1
            results.append({"op_id": op["op_id"], "status": "applied", "replayed": False,
                            "version": (op["base_version"] or 0) + 1, "seq": self.seq})
        self.pushed += len(results)
        return web.json_response({"results": results})

    async def _snapshot(self, request: web.Request) -> web.Response:
        # no records: a node's first download goes on through the feed from 0
        return web.json_response({"records": [], "next": None, "head_seq": 0, "total": 0})

    async def _changes(self, request: web.Request) -> web.Response:
        if self.hang_pull:
            await self._released.wait()
        since = int(request.query.get("since", "0"))
        if not self.endless_feed:
            await asyncio.sleep(min(float(request.query.get("wait", "0")), 1.0))
            return web.json_response({"changes": [], "last_seq": since, "has_more": False})
        self.pages += 1
        changes: list[dict[str, Any]] = [
            {"seq": n, "collection": "customers", "id": str(uuid.uuid4()),
             "version": 1, "deleted": False,
             "data": {"code": f"F{n:07d}", "name": f"Khách {n}"},
             "op_id": str(uuid.uuid4()), "node_id": "other-node"}
            for n in range(since + 1, since + 501)]
        return web.json_response({"changes": changes, "last_seq": since + 500,
                                  "has_more": True})
