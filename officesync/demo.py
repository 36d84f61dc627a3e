"""``officesync demo``: a hub, a node and sample accounting data on loopback, in one process.

The first run creates the hub's dataset, enrolls the node with a one-time code (the token goes
to the secret store) and, once the node runs and has leased voucher numbers from the hub, seeds
accounts, customers, vendors, items and about 20 vouchers. Later runs reuse the directory: no
re-enrollment, no re-seeding. Runs until Ctrl-C / SIGTERM. Only one demo runs in a directory
at a time (a second one is refused, naming the first one's dashboard). The commands it prints
run as pasted, also when ``.venv`` is not activated.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from aiohttp import web

from agent.app import NodeContext, default_sync, run_node
from agent.cloud.client import HubError
from agent.config import Config, load_config
from agent.enrollment import enroll
from agent.logs import LineFormatter
from agent.runtime import DataDirBusy, hold_data_dir, read_runtime
from agent.secrets import NodeSecrets
from agent.store import DatasetStore
from agent.store.node import NodeDB
from agent.sync.api import SyncControl
from agent.sync.factory import hub_settings
from hub import nodes
from hub.app import create_app
from hub.db import create_schema
from hub.store import HubStore
from protocol.i18n import LANG_META_KEY, Lang, Text, local_clock

log = logging.getLogger("officesync.demo")

DATASET = "cty-demo"
NODE_NAME = "demo-office"
SEEDED_SETTING = "demo_seeded"
READY_TIMEOUT_S = 30.0
SERIES_PREFIXES = ("PT", "PC", "BH")  # receipt, payment, sales_invoice

Sample = tuple[str, str, dict[str, Any]]  # (collection, id, data)

_ACCOUNTS = [
    ("111", "Tiền mặt"),
    ("112", "Tiền gửi ngân hàng"),
    ("131", "Phải thu của khách hàng"),
    ("331", "Phải trả cho người bán"),
    ("511", "Doanh thu bán hàng và cung cấp dịch vụ"),
]
_CUSTOMERS = [
    ("KH001", "Công ty TNHH Thương mại Hoàng Long", "0312345678", "12 Lê Lợi, Quận 1, TP.HCM"),
    ("KH002", "Công ty Cổ phần Xây dựng Minh Phát", "0109876543", "45 Trần Duy Hưng, Hà Nội"),
    ("KH003", "Công ty TNHH Dịch vụ An Khang", "0401234567", "8 Bạch Đằng, Đà Nẵng"),
    ("KH004", "Công ty CP Thực phẩm Sài Gòn Xanh", "0315556677", "210 Cộng Hòa, Tân Bình"),
]
_VENDORS = [
    ("NCC001", "Công ty TNHH Giấy Việt Thắng", "0301112223", "Khu CN Tân Tạo, TP.HCM"),
    ("NCC002", "Công ty CP Văn phòng phẩm Hồng Hà", "0100101234", "25 Lý Thường Kiệt, Hà Nội"),
    ("NCC003", "Công ty TNHH Vận tải Phương Nam", "0309998887", "QL1A, Bình Chánh, TP.HCM"),
]
_ITEMS = [
    ("HH001", "Giấy A4 Double A 80gsm", "ram", 85_000),
    ("HH002", "Mực in HP 85A", "hộp", 1_450_000),
    ("HH003", "Bút bi Thiên Long TL-027", "hộp", 55_000),
    ("DV001", "Dịch vụ bảo trì máy tính", "lần", 500_000),
]
# (type, customer/vendor index, item index or None, quantity, amount or None, debit, credit)
_VOUCHERS: list[tuple[str, int, int | None, int, int | None, str, str]] = [
    ("sales_invoice", 0, 0, 50, None, "131", "511"),
    ("sales_invoice", 1, 1, 4, None, "131", "511"),
    ("receipt", 0, None, 0, 4_250_000, "111", "131"),
    ("payment", 0, None, 0, 3_200_000, "331", "111"),
    ("sales_invoice", 2, 3, 2, None, "131", "511"),
    ("receipt", 1, None, 0, 5_800_000, "112", "131"),
    ("sales_invoice", 3, 2, 20, None, "131", "511"),
    ("payment", 1, None, 0, 1_750_000, "331", "112"),
    ("receipt", 2, None, 0, 1_000_000, "111", "131"),
    ("sales_invoice", 0, 1, 2, None, "131", "511"),
    ("payment", 2, None, 0, 2_400_000, "331", "111"),
    ("receipt", 3, None, 0, 1_100_000, "112", "131"),
    ("sales_invoice", 1, 0, 120, None, "131", "511"),
    ("receipt", 0, None, 0, 2_900_000, "111", "131"),
    ("payment", 0, None, 0, 860_000, "331", "111"),
    ("sales_invoice", 2, 2, 10, None, "131", "511"),
    ("receipt", 1, None, 0, 10_200_000, "112", "131"),
    ("payment", 1, None, 0, 4_500_000, "331", "112"),
    ("sales_invoice", 3, 3, 1, None, "131", "511"),
    ("receipt", 2, None, 0, 550_000, "111", "131"),
]
_DESCRIPTIONS = {
    "sales_invoice": "Bán hàng cho {name}",
    "receipt": "Thu tiền của {name}",
    "payment": "Chi trả {name}",
}


def _ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def sample_records(today: dt.date) -> list[Sample]:
    """The demo's sample data in dependency order (pure; ids are fresh UUIDs)."""
    account = dict(zip([n for n, _ in _ACCOUNTS], _ids(len(_ACCOUNTS)), strict=True))
    customers, vendors, items = (_ids(len(_CUSTOMERS)), _ids(len(_VENDORS)),
                                 _ids(len(_ITEMS)))
    out: list[Sample] = [("accounts", account[n], {"number": n, "name": name})
                         for n, name in _ACCOUNTS]
    for ids, rows, collection in ((customers, _CUSTOMERS, "customers"),
                                  (vendors, _VENDORS, "vendors")):
        out += [(collection, rid, {"code": c, "name": nm, "tax_code": tax, "address": addr})
                for rid, (c, nm, tax, addr) in zip(ids, rows, strict=True)]
    out += [("items", rid, {"code": c, "name": nm, "unit": unit, "price": price})
            for rid, (c, nm, unit, price) in zip(items, _ITEMS, strict=True)]
    for n, (kind, party, item, qty, amount, debit, credit) in enumerate(_VOUCHERS):
        is_payment = kind == "payment"
        name = (_VENDORS if is_payment else _CUSTOMERS)[party][1]
        line: dict[str, Any] = {"debit": account[debit], "credit": account[credit]}
        if item is not None:
            line.update(item=items[item], quantity=qty, amount=_ITEMS[item][3] * qty)
        else:
            line["amount"] = amount
        data: dict[str, Any] = {
            "type": kind,
            "date": (today - dt.timedelta(days=len(_VOUCHERS) - n)).isoformat(),
            "description": _DESCRIPTIONS[kind].format(name=name),
            "lines": [line],
        }
        data["vendor" if is_payment else "customer"] = (vendors if is_payment else customers)[party]
        out.append(("vouchers", str(uuid.uuid4()), data))
    return out


async def seed(store: DatasetStore, today: dt.date | None = None) -> int:
    """Write the sample data through the store (as a workstation would); returns the count."""
    records = sample_records(today or dt.date.today())
    for collection, record_id, data in records:
        await store.create(collection, data, id=record_id)
    return len(records)


# --- configuration and ports ---------------------------------------------------------------


def pick_port(port: int, host: str = "127.0.0.1") -> int:
    """``port`` if it can be bound now, else a free one (0 stays 0: the server picks)."""
    if port == 0:
        return 0
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as err:
            if err.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            return 0
    return port


def node_config_text(data_dir: Path, lan_port: int, hub_url: str, language: Lang = "vi") -> str:
    q = json.dumps  # a JSON string is a valid TOML basic string
    return "\n".join([
        "# Written by `officesync demo` at every start.",
        "[node]", f"name = {q(NODE_NAME)}", f"data_dir = {q(str(data_dir / 'node'))}",
        f"language = {q(language)}", "",
        "[lan]", 'host = "127.0.0.1"', f"port = {lan_port}", "",
        "[control]", 'host = "127.0.0.1"', "port = 0", "",
        "[cloud]", f"url = {q(hub_url)}", "probe_interval_s = 2", "",
        "[discovery]", "enabled = false", "",
        "[[datasets]]", f"id = {q(DATASET)}", "",
    ])


# --- the run -------------------------------------------------------------------------------


@dataclass
class DemoOptions:
    data_dir: Path
    lan_port: int = 8470
    hub_port: int = 8480
    language: Lang = "vi"


def _hub_admin(db_url: str, enroll_code: bool) -> str | None:
    """Create the demo dataset (idempotent) and, when asked, a one-time enrollment code."""
    store = HubStore(db_url)
    try:
        create_schema(store.engine)
        store.transaction(nodes.create_dataset, DATASET, write=True)
        if not enroll_code:
            return None
        code: str = store.transaction(nodes.create_enroll_code, [DATASET],
                                      dt.timedelta(hours=1), write=True)
        return code
    finally:
        store.engine.dispose()


async def _is_enrolled(config: Config) -> bool:
    path = config.data_dir / "node.db"
    if not path.exists() or NodeSecrets(config.data_dir).load() is None:
        return False
    node_db = NodeDB(path)
    await node_db.open()
    try:
        return bool((await hub_settings(node_db)).get("node_id"))
    finally:
        await node_db.close()


async def _start_hub(db_url: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(db_url), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", pick_port(port), shutdown_timeout=2.0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _wait_for(check: Any, what: str, node: asyncio.Task[None]) -> Any:
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            if node.done():
                node.result()  # raises the node's error
                raise RuntimeError(f"the node stopped before {what}")
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.1)


async def _seed_once(ctx: NodeContext, node: asyncio.Task[None]) -> int:
    if await ctx.node_db.get_setting(SEEDED_SETTING):
        return 0
    store = ctx.stores.get(DATASET)

    async def numbers_leased() -> bool:
        remaining = await store.series_remaining()
        return all(remaining.get(p, 0) > 0 for p in SERIES_PREFIXES)

    await _wait_for(numbers_leased, "voucher numbers were leased from the hub", node)
    count = await seed(store)
    await ctx.node_db.set_setting(SEEDED_SETTING, True)
    return count


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_demo(options: DemoOptions, out: Any = sys.stdout) -> None:
    """Run the demo in ``options.data_dir``. One demo per directory: the node's data dir is
    locked before anything is written, so a second demo there raises
    :class:`agent.runtime.DataDirBusy` (the hub, the config and the databases untouched)."""
    data_dir = options.data_dir.resolve()
    with hold_data_dir(data_dir / "node"):
        await _run_demo_locked(options, data_dir, out)


async def _run_demo_locked(options: DemoOptions, data_dir: Path, out: Any) -> None:
    stop = asyncio.Event()
    _stop_on_signals(stop)
    db_url = f"sqlite:///{data_dir / 'hub.db'}"
    config_path = data_dir / "node.toml"
    hub_runner, hub_url = await _start_hub(db_url, options.hub_port)
    try:
        config_path.write_text(node_config_text(data_dir, pick_port(options.lan_port), hub_url,
                                                options.language), encoding="utf-8")
        config = load_config(config_path)
        enrolled = await _is_enrolled(config)
        code = await asyncio.to_thread(_hub_admin, db_url, not enrolled)
        if code is not None:
            await enroll(config, hub_url, code)
        await _run_node(config, hub_url, stop, out)
    finally:
        await hub_runner.cleanup()


async def _run_node(config: Config, hub_url: str, stop: asyncio.Event, out: Any) -> None:
    captured: list[NodeContext] = []

    async def sync_factory(ctx: NodeContext) -> SyncControl:
        captured.append(ctx)
        return await default_sync(ctx)

    node = asyncio.create_task(run_node(config, sync_factory=sync_factory, stop=stop))
    try:
        async def ready() -> Any:
            info = read_runtime(config.data_dir)
            return info if captured and info is not None and info.pid == os.getpid() else None

        runtime = await _wait_for(ready, "it was ready", node)
        ctx = captured[0]
        seeded = await _seed_once(ctx, node)
        pairing = ctx.pairing.issue_code()
        for line in banner(runtime.lan_url, hub_url, pairing.code, pairing.as_json()["expires_at"],
                           config, seeded):
            print(line, file=out, flush=True)
        await stop.wait()
    finally:
        stop.set()
        await node


def officesync_command() -> str:
    """How to run this very ``officesync`` from a shell, as pasted: ``officesync`` when that is
    what ``PATH`` finds, else the absolute path of the one in this interpreter's venv (a
    ``make run`` user has not activated ``.venv``), else ``python -m officesync``."""
    exe = "officesync.exe" if sys.platform == "win32" else "officesync"
    here = Path(sys.executable).parent / exe
    on_path = shutil.which("officesync")
    if on_path and here.exists() and Path(on_path).resolve() == here.resolve():
        return "officesync"
    if here.exists():
        return shlex.quote(str(here.absolute()))
    return f"{shlex.quote(sys.executable)} -m officesync"


_BANNER: dict[str, Text] = {
    "running": Text("OfficeSync demo đang chạy", "OfficeSync demo is running"),
    "seeded": Text("  Đã tạo {count} bản ghi mẫu ({dataset})",
                   "  Seeded {count} sample records ({dataset})"),
    "dashboard": Text("  Bảng điều khiển: {url}/", "  Dashboard: {url}/"),
    "hub": Text("  Cloud: {url}", "  Cloud hub: {url}"),
    "code": Text("  Mã ghép nối: {code}   (dùng được đến {expires}, một lần)",
                 "  Pairing code: {code}   (valid until {expires}, once)"),
    "try": Text("Thử các lệnh sau (dán được nguyên dòng vào terminal):",
                "Try these commands (each can be pasted as is into a terminal):"),
    "stop": Text("Nhấn Ctrl+C để dừng.", "Press Ctrl+C to stop."),
    "busy": Text(
        "Một bản demo đang chạy trong thư mục {dir} (pid {pid}); bảng điều khiển: {url}. Dùng bản "
        "đó, hoặc dừng nó (Ctrl+C) trước; muốn chạy thêm một bản: officesync demo --dir "
        "THƯ_MỤC_KHÁC",
        "A demo is already running in {dir} (pid {pid}); dashboard: {url}. Use that one, or "
        "stop it (Ctrl+C) first; to run another one: officesync demo --dir OTHER_DIR",
    ),
    "starting": Text("đang khởi động", "starting"),
    "failed": Text("Không chạy được bản demo ({reason})", "Cannot run the demo ({reason})"),
}


def _t(key: str, lang: Lang, **params: Any) -> str:
    return _BANNER[key].get(lang).format(**params)


def try_commands(lan_url: str, code: str, config: Config, lang: Lang,
                 cli: str | None = None) -> list[str]:
    """The commands the banner suggests, runnable as printed."""
    run = cli or officesync_command()
    cfg = shlex.quote(str(config.source))
    ws = f"{run} ws --lang en" if lang == "en" else f"{run} ws"
    return [
        f"{ws} pair --node {lan_url} --code {code}",
        f"{run} ws list {DATASET} vouchers",
        f"{run} status --config {cfg}",
        f"{run} offline --config {cfg}",
        f"{run} online --config {cfg}",
        f"{run} pair-code --config {cfg}",
    ]


def banner(lan_url: str, hub_url: str, code: str, expires_at: str, config: Config,
           seeded: int) -> Iterator[str]:
    lang = config.node.language
    yield ""
    yield _t("running", lang)
    if seeded:
        yield _t("seeded", lang, count=seeded, dataset=DATASET)
    yield _t("dashboard", lang, url=lan_url)
    yield _t("hub", lang, url=hub_url)
    yield _t("code", lang, code=code, expires=local_clock(expires_at))
    yield _t("try", lang)
    for command in try_commands(lan_url, code, config, lang):
        yield "  " + command
    yield _t("stop", lang)


def busy_line(busy: DataDirBusy, data_dir: Path, lang: Lang) -> str:
    info = busy.info
    pid = busy.pid or (info.pid if info else "?")
    url = f"{info.lan_url}/" if info is not None else _t("starting", lang)
    return _t("busy", lang, dir=data_dir, pid=pid, url=url)


@click.command("demo")
@click.option("--dir", "data_dir", default="./demo-data", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Where the demo keeps data.")
@click.option("--lan-port", default=8470, show_default=True, type=click.IntRange(0, 65535),
              help="The node's LAN port (dashboard); a free one if taken, 0 = any.")
@click.option("--hub-port", default=8480, show_default=True, type=click.IntRange(0, 65535),
              help="The hub's port; a free one if taken, 0 = any.")
@click.option("--lang", type=click.Choice(["vi", "en"]), default=None,
              help="Language of the demo and its node (vi/en) [vi].")
def demo(data_dir: Path, lan_port: int, hub_port: int, lang: str | None) -> None:
    """Start a hub, a node and sample data here / Chạy thử: Cloud, máy chủ, dữ liệu mẫu.

    One demo per --dir: a second one in the same directory exits at once (status 3) with
    the dashboard address of the running one."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    ctx = click.get_current_context()
    chosen = lang or ctx.meta.get(LANG_META_KEY)
    say: Lang = "en" if chosen == "en" else "vi"
    try:
        asyncio.run(run_demo(DemoOptions(data_dir, lan_port, hub_port, say)))
    except DataDirBusy as busy:
        click.echo(busy_line(busy, data_dir.resolve(), say), err=True)
        sys.exit(3)
    except (OSError, TimeoutError, HubError) as err:
        click.echo(_t("failed", say, reason=_reason(err, say)), err=True)
        sys.exit(1)


def _reason(err: Exception, lang: Lang) -> str:
    if isinstance(err, TimeoutError):
        return Text("quá thời gian chờ", "timed out").get(lang)
    if isinstance(err, HubError):
        return Text("Cloud trả lời không đúng", "the hub gave a wrong answer").get(lang)
    number = getattr(err, "errno", None)
    return Text(f"lỗi hệ điều hành {number}", f"operating system error {number}").get(lang)
