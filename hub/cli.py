"""``officesync hub …``: run the hub and administer datasets and enrollment codes.

Admin commands work on an existing hub database only (``hub serve`` makes one, or pass
``--create``): a mistyped ``--db`` is refused instead of creating a new, empty hub. Every
failure is one line on stderr in the chosen language (``--lang``, default Vietnamese)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import errno
import json
import logging
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.request import pathname2url

import click
import platformdirs
import sqlalchemy as sa
from aiohttp import web
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError

from httpkit.observe import JsonFormatter
from hub import db, nodes
from hub.app import create_app
from hub.db import create_schema, normalise_url
from hub.store import HubStore
from hub.workers import Supervisor, listening_socket, orphaned
from protocol.errors import ProtocolError, render
from protocol.i18n import LANG_META_KEY, Lang, Text
from protocol.models import DatasetId

T = TypeVar("T")
EXIT_USAGE = 2
_DATASET_ID = TypeAdapter(DatasetId)

_TEXTS: dict[str, Text] = {
    "bad_url": Text(
        "Địa chỉ cơ sở dữ liệu --db {url} không hợp lệ. Dạng đúng: sqlite:///đường/dẫn/hub.db "
        "(tệp SQLite) hoặc postgresql://người_dùng:mật_khẩu@máy/tên_cơ_sở_dữ_liệu",
        "The database address --db {url} is not valid. Expected: sqlite:///path/to/hub.db "
        "(an SQLite file) or postgresql://user:password@host/dbname",
    ),
    "memory": Text(
        "--db {url} là cơ sở dữ liệu trong bộ nhớ, mất khi lệnh kết thúc: hãy cho đường dẫn "
        "tệp, ví dụ sqlite:///hub.db",
        "--db {url} is an in-memory database, gone when the command ends: give a file, "
        "e.g. sqlite:///hub.db",
    ),
    "no_db": Text(
        "Không có cơ sở dữ liệu Cloud tại {path}. Kiểm tra --db; nếu muốn tạo Cloud mới ở đây, "
        "chạy officesync hub serve --db {url} một lần, hoặc thêm --create",
        "No hub database at {path}. Check --db; to make a new hub there, run officesync hub "
        "serve --db {url} once, or add --create",
    ),
    "not_hub_db": Text(
        "{url} không phải cơ sở dữ liệu Cloud OfficeSync (chưa có bảng của Cloud). Kiểm tra "
        "--db; nếu muốn tạo Cloud mới ở đây, thêm --create",
        "{url} is not an OfficeSync hub database (no hub tables). Check --db; to make a new "
        "hub there, add --create",
    ),
    "db_unreachable": Text(
        "Không mở được cơ sở dữ liệu {url}: kiểm tra máy chủ cơ sở dữ liệu, tên người dùng "
        "và mật khẩu",
        "Cannot open the database {url}: check the database server, user name and password",
    ),
    "db_error": Text("Lỗi cơ sở dữ liệu {url} ({kind})", "Database error on {url} ({kind})"),
    "bad_dataset": Text(
        "Mã dữ liệu kế toán '{dataset}' không hợp lệ: chỉ dùng chữ thường không dấu, số, '-' "
        "và '_' (tối đa 63 ký tự), bắt đầu bằng chữ hoặc số, ví dụ cty-abc",
        "The dataset id '{dataset}' is not valid: use lowercase letters, digits, '-' and '_' "
        "(at most 63), starting with a letter or digit, e.g. cty-abc",
    ),
    "created": Text("Đã tạo dữ liệu kế toán {dataset}", "Dataset {dataset} created"),
    "exists": Text("Dữ liệu kế toán {dataset} đã có từ trước", "Dataset {dataset} already exists"),
    "code": Text("Mã đăng ký dùng một lần ({datasets}), hiệu lực {hours} giờ:",
                 "One-time enrollment code ({datasets}), valid {hours} h:"),
    "granted": Text("Đã cho máy chủ {node} dùng dữ liệu kế toán {dataset}",
                    "Node {node} may now use dataset {dataset}"),
    "had_grant": Text("Máy chủ {node} đã được dùng dữ liệu kế toán {dataset} từ trước",
                      "Node {node} could already use dataset {dataset}"),
    "revoked": Text(
        "Đã thu hồi mã truy cập của máy chủ {node} ({id}): Cloud từ chối nó từ bây giờ (máy chủ "
        "đó thấy lỗi xác thực). Cấp lại bằng mã đăng ký mới: officesync hub enroll-code",
        "Node {node} ({id}) revoked: the hub refuses its token from now on (that node shows an "
        "authentication failure). To let it back, give it a new enrollment code: officesync "
        "hub enroll-code"),
    "was_revoked": Text("Máy chủ {node} ({id}) đã bị thu hồi từ trước",
                        "Node {node} ({id}) was already revoked"),
    "no_datasets": Text("Chưa có dữ liệu kế toán nào: officesync hub dataset create ID",
                        "No dataset yet: officesync hub dataset create ID"),
    "no_nodes": Text("Chưa có máy chủ nào đăng ký: officesync hub enroll-code --dataset ID",
                     "No node enrolled yet: officesync hub enroll-code --dataset ID"),
    "h_dataset": Text("dữ liệu", "dataset"),
    "h_created": Text("tạo lúc", "created"),
    "h_nodes": Text("máy chủ", "nodes"),
    "h_records": Text("bản ghi", "records"),
    "h_name": Text("tên", "name"),
    "h_id": Text("mã", "id"),
    "h_seen": Text("lần cuối thấy", "last seen"),
    "h_datasets": Text("dữ liệu", "datasets"),
    "never": Text("chưa bao giờ", "never"),
    "revoked_mark": Text("ĐÃ THU HỒI", "REVOKED"),
    "cannot_serve": Text("Không khởi động được máy chủ Cloud: {reason}",
                         "Cannot start the hub: {reason}"),
    "port_in_use": Text("cổng {port} đang được chương trình khác dùng",
                        "port {port} is used by another program"),
    "os_error": Text("lỗi hệ điều hành {errno}", "operating system error {errno}"),
    "metrics_token": Text(
        "Không đọc được mã truy cập số liệu (--metrics-token-file) {path}: {reason}",
        "Cannot read the metrics token (--metrics-token-file) {path}: {reason}",
    ),
    "metrics_token_empty": Text("tệp trống", "the file is empty"),
    "workers_sqlite": Text(
        "--workers {workers}: Cloud trên SQLite chạy một tiến trình (một luồng ghi; thông báo "
        "thay đổi chỉ đến các yêu cầu của chính tiến trình đó). Dùng PostgreSQL "
        "(--db postgresql://…) để chạy nhiều tiến trình",
        "--workers {workers}: a SQLite hub runs as one process (one writer; its feed wakes "
        "only its own long-polls). Use PostgreSQL (--db postgresql://…) for several workers",
    ),
    "workers_windows": Text(
        "--workers lớn hơn 1 chỉ chạy trên Linux; trên Windows hãy chạy nhiều lệnh officesync "
        "hub serve ở các cổng khác nhau sau một bộ cân bằng tải",
        "--workers above 1 runs on Linux only; on Windows run several officesync hub serve "
        "on different ports behind a load balancer",
    ),
}


def say(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].get(lang).format(**params)


class HubCliError(Exception):
    """One line for the person, in their language, and the exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def _lang(explicit: str | None) -> Lang:
    """``--lang`` of the command, else ``officesync --lang`` / ``OFFICESYNC_LANG``, else vi."""
    ctx = click.get_current_context(silent=True)
    value = explicit or (ctx.meta.get(LANG_META_KEY) if ctx is not None else None)
    return "en" if value == "en" else "vi"


def _exit(err: HubCliError) -> NoReturn:
    click.echo(str(err).splitlines()[0], err=True)
    sys.exit(err.status)


def default_db_url() -> str:
    return "sqlite:///" + str(Path(platformdirs.user_data_dir("officesync")) / "hub.db")


def parse_db_url(db_url: str, lang: Lang) -> URL:
    """The URL, or :class:`HubCliError` saying which forms are expected."""
    try:
        return normalise_url(db_url)
    except (ArgumentError, ValueError):
        raise HubCliError(say("bad_url", lang, url=db_url), EXIT_USAGE) from None


def _prepare_sqlite_dir(db_url: str) -> None:
    if db_url.startswith("sqlite:///") and len(db_url) > len("sqlite:///"):
        Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_file(url: URL, db_url: str, lang: Lang) -> Path | None:
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise HubCliError(say("memory", lang, url=db_url), EXIT_USAGE)
    return Path(url.database)


def _sqlite_is_hub(path: Path) -> bool:
    """Whether the SQLite file has the hub's tables, read-only (the file is left untouched)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro",
                                                uri=True)) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                 "name = ?", (db.datasets.name,)).fetchone()
    except sqlite3.Error:
        return False
    return found is not None


def open_admin_store(db_url: str, create: bool, lang: Lang) -> HubStore:
    """The hub store for an admin command. Without ``create`` it must already be a hub
    database: a mistyped path or URL never makes a new, empty hub."""
    url = parse_db_url(db_url, lang)
    path = _sqlite_file(url, db_url, lang)
    if path is not None and not create:
        if not path.exists():
            raise HubCliError(say("no_db", lang, path=path, url=db_url))
        if not _sqlite_is_hub(path):
            raise HubCliError(say("not_hub_db", lang, url=db_url))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    store = HubStore(db_url)
    try:
        if create:
            create_schema(store.engine)
        elif not sa.inspect(store.engine).has_table(db.datasets.name):
            raise HubCliError(say("not_hub_db", lang, url=db_url))
        else:
            db.add_new_columns(store.engine)  # a hub made by an older version
    except SQLAlchemyError as err:
        store.engine.dispose()
        raise _db_failure(err, db_url, lang) from err
    except HubCliError:
        store.engine.dispose()
        raise
    return store


def _db_failure(err: SQLAlchemyError, db_url: str, lang: Lang) -> HubCliError:
    if isinstance(err, OperationalError):
        return HubCliError(say("db_unreachable", lang, url=_shown(db_url)))
    if isinstance(err, DatabaseError):  # e.g. SQLite: "file is not a database"
        return HubCliError(say("not_hub_db", lang, url=_shown(db_url)))
    return HubCliError(say("db_error", lang, url=_shown(db_url), kind=type(err).__name__))


def _shown(db_url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except ArgumentError:
        return db_url


def _admin(db_url: str, create: bool, lang: Lang, fn: Callable[..., T], *args: Any) -> T:
    """Run one admin transaction, turning every failure into a one-line reason."""
    store = open_admin_store(db_url, create, lang)
    try:
        return store.transaction(fn, *args, write=True)
    except ProtocolError as err:
        raise HubCliError(render(err.code, lang, err.params)) from err
    except SQLAlchemyError as err:
        raise _db_failure(err, db_url, lang) from err
    finally:
        store.engine.dispose()


def _check_dataset(dataset: str, lang: Lang) -> None:
    try:
        _DATASET_ID.validate_python(dataset)
    except ValidationError:
        raise HubCliError(say("bad_dataset", lang, dataset=dataset), EXIT_USAGE) from None


db_option = click.option("--db", "db_url", default=default_db_url, show_default="platform data dir",
                         help="Database URL: sqlite:///path/hub.db or postgresql://…")
create_option = click.option(
    "--create", is_flag=True,
    help="Make a new hub database at --db if there is none (else a wrong --db is refused).",
)
lang_option = click.option("--lang", type=click.Choice(["vi", "en"]), default=None,
                           help="Language of messages (vi/en) [vi].")


@click.group("hub")
def hub() -> None:
    """The OfficeSync cloud hub / Máy chủ Cloud OfficeSync."""


@hub.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8480, show_default=True, type=click.IntRange(0, 65535))
@click.option("--min-protocol", default=1, show_default=True, type=click.IntRange(1))
@click.option("--metrics-token-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Serve GET /metrics to requests bearing the token in this file")
@click.option("--log-format", type=click.Choice(["line", "json"]), default="line",
              show_default=True, help="json: one JSON object per log line")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Hub processes serving the port (PostgreSQL only, Linux): one a core")
@click.option("--listen-fd", type=int, default=None, hidden=True)  # a worker's socket
@lang_option
def serve(db_url: str, host: str, port: int, min_protocol: int,
          metrics_token_file: Path | None, log_format: str, workers: int,
          listen_fd: int | None, lang: str | None) -> None:
    """Run the hub until SIGTERM or Ctrl+C (makes the database at --db if there is none)."""
    chosen = _lang(lang)
    try:
        url = parse_db_url(db_url, chosen)
        if workers > 1:
            _check_workers(url, workers, chosen)
        _prepare_sqlite_dir(db_url)
        token = _metrics_token(metrics_token_file, chosen)
        if log_format == "json":
            _json_logging()
        if workers > 1:
            worker = ["--db", db_url, "--min-protocol", str(min_protocol),
                      "--log-format", log_format, "--lang", chosen]
            if metrics_token_file is not None:
                worker += ["--metrics-token-file", str(metrics_token_file)]
            _serve_workers(db_url, host, port, workers, worker)
            return
        asyncio.run(_serve(db_url, host, port, min_protocol, token, listen_fd))
    except HubCliError as err:
        _exit(err)
    except SQLAlchemyError as err:
        _exit(_db_failure(err, db_url, chosen))
    except OSError as err:
        reason = (say("port_in_use", chosen, port=port) if err.errno == errno.EADDRINUSE
                  else say("os_error", chosen, errno=err.errno))
        _exit(HubCliError(say("cannot_serve", chosen, reason=reason)))
def _metrics_token(path: Path | None, lang: Lang) -> str | None:
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise HubCliError(say("metrics_token", lang, path=path,
                              reason=getattr(err, "strerror", None) or type(err).__name__),
                          EXIT_USAGE) from err
    if not token:
        raise HubCliError(say("metrics_token", lang, path=path,
                              reason=say("metrics_token_empty", lang)), EXIT_USAGE)
    return token


def _json_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _check_workers(url: URL, workers: int, lang: Lang) -> None:
    if url.get_backend_name() != "postgresql":
        raise HubCliError(say("workers_sqlite", lang, workers=workers), EXIT_USAGE)
    if os.name == "nt":
        raise HubCliError(say("workers_windows", lang), EXIT_USAGE)


def _serve_workers(db_url: str, host: str, port: int, workers: int,
                   worker_args: list[str]) -> None:
    """``--workers``: make the schema once (before the workers would race to), bind the port,
    and keep ``workers`` processes of ``hub serve worker_args`` on it."""
    engine = db.create_hub_engine(db_url)
    create_schema(engine)
    engine.dispose()
    sock = listening_socket(host, port)
    print(f"officesync hub listening on http://{host}:{sock.getsockname()[1]}", flush=True)
    command = [sys.executable, "-m", "officesync", "hub", "serve", *worker_args,
               "--listen-fd", str(sock.fileno())]
    asyncio.run(_supervise(command, workers, sock.fileno()))


async def _supervise(command: list[str], workers: int, fd: int) -> None:
    supervisor = Supervisor(command, workers, fd)
    stopper = asyncio.ensure_future(_until_signal(supervisor.stop))
    try:
        await supervisor.run()
    finally:
        stopper.cancel()


async def _serve(db_url: str, host: str, port: int, min_protocol: int,
                 metrics_token: str | None = None, listen_fd: int | None = None) -> None:
    runner = web.AppRunner(create_app(db_url, min_protocol=min_protocol,
                                      metrics_token=metrics_token))
    await runner.setup()
    try:
        if listen_fd is None:
            site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
            await site.start()
            real_port = runner.addresses[0][1]
            print(f"officesync hub listening on http://{host}:{real_port}", flush=True)
            await _until_signal()
        else:  # a worker of ``--workers``, on the supervisor's socket, until it stops
            await web.SockSite(runner, socket.socket(fileno=listen_fd),
                               shutdown_timeout=5.0).start()
            ends = [asyncio.ensure_future(_until_signal()), asyncio.ensure_future(orphaned())]
            await asyncio.wait(ends, return_when=asyncio.FIRST_COMPLETED)
            for end in ends:
                end.cancel()
    finally:
        await runner.cleanup()


async def _until_signal(then: Callable[[], None] | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: KeyboardInterrupt instead
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if then is not None:
        then()


@hub.group()
def dataset() -> None:
    """Datasets (one company's books) / Dữ liệu kế toán."""


@dataset.command("create")
@click.argument("dataset_id")
@db_option
@create_option
@lang_option
def dataset_create(dataset_id: str, db_url: str, create: bool, lang: str | None) -> None:
    """Create dataset DATASET_ID (nothing happens if it exists)."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        _check_dataset(dataset_id, chosen)
        made = _admin(db_url, create, chosen, nodes.create_dataset, dataset_id)
    except HubCliError as err:
        _exit(err)
    click.echo(say("created" if made else "exists", chosen, dataset=dataset_id))


@hub.command("enroll-code")
@click.option("--dataset", "wanted", multiple=True, required=True, help="Dataset to grant.")
@click.option("--ttl-hours", default=168.0, show_default=True, type=click.FloatRange(0.01))
@db_option
@create_option
@lang_option
def enroll_code(wanted: tuple[str, ...], ttl_hours: float, db_url: str, create: bool,
                lang: str | None) -> None:
    """Print a one-time code that enrolls a node with access to the given datasets (the code
    alone on the last line)."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        for dataset_id in wanted:
            _check_dataset(dataset_id, chosen)
        code = _admin(db_url, create, chosen, nodes.create_enroll_code, list(wanted),
                      dt.timedelta(hours=ttl_hours))
    except HubCliError as err:
        _exit(err)
    click.echo(say("code", chosen, datasets=", ".join(wanted), hours=f"{ttl_hours:g}"))
    click.echo(code)
    sys.stdout.flush()


def _table(header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell, one row a line (scripts: --json)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _minute(iso: str | None) -> str | None:
    return iso[:16].replace("T", " ") if iso else None


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")


@dataset.command("list")
@db_option
@json_option
@lang_option
def dataset_list(db_url: str, as_json: bool, lang: str | None) -> None:
    """Every dataset: id, when created, the nodes granted it, its record count."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        found = _admin(db_url, False, chosen, nodes.list_datasets)
    except HubCliError as err:
        _exit(err)
    if as_json:
        click.echo(json.dumps([{"id": d.id, "created_at": d.created_at, "nodes": list(d.nodes),
                                "records": d.records} for d in found], ensure_ascii=False))
        return
    if not found:
        click.echo(say("no_datasets", chosen))
        return
    _table([say(k, chosen) for k in ("h_dataset", "h_created", "h_nodes", "h_records")],
           [[d.id, _minute(d.created_at) or "", ", ".join(d.nodes) or "—", str(d.records)]
            for d in found])


@hub.command("grant")
@click.option("--node", "node", required=True, help="The node's name (or id).")
@click.option("--dataset", "dataset_id", required=True, help="The dataset to grant.")
@db_option
@lang_option
def grant(node: str, dataset_id: str, db_url: str, lang: str | None) -> None:
    """Let an enrolled node use one more dataset."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        _check_dataset(dataset_id, chosen)
        made = _admin(db_url, False, chosen, nodes.grant, node, dataset_id)
    except HubCliError as err:
        _exit(err)
    click.echo(say("granted" if made else "had_grant", chosen, node=node, dataset=dataset_id))


@hub.command("nodes")
@db_option
@json_option
@lang_option
def list_nodes(db_url: str, as_json: bool, lang: str | None) -> None:
    """Every enrolled node: name, id, last seen (to the minute), its datasets."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        found = _admin(db_url, False, chosen, nodes.list_nodes)
    except HubCliError as err:
        _exit(err)
    if as_json:
        click.echo(json.dumps([{"id": n.id, "name": n.name, "created_at": n.created_at,
                                "last_seen": n.last_seen, "revoked_at": n.revoked_at,
                                "datasets": list(n.datasets)} for n in found],
                              ensure_ascii=False))
        return
    if not found:
        click.echo(say("no_nodes", chosen))
        return
    rows = []
    for n in found:
        seen = _minute(n.last_seen) or say("never", chosen)
        if n.revoked_at:
            seen += f" ({say('revoked_mark', chosen)} {_minute(n.revoked_at)})"
        rows.append([n.name, n.id, seen, ", ".join(n.datasets) or "—"])
    _table([say(k, chosen) for k in ("h_name", "h_id", "h_seen", "h_datasets")], rows)


@hub.command("revoke")
@click.argument("node")
@db_option
@lang_option
def revoke(node: str, db_url: str, lang: str | None) -> None:
    """Refuse NODE's token (name or id) from now on; a new enrollment code lets it back."""
    chosen = _lang(lang)
    try:
        parse_db_url(db_url, chosen)
        node_id, name, newly = _admin(db_url, False, chosen, nodes.revoke, node)
    except HubCliError as err:
        _exit(err)
    click.echo(say("revoked" if newly else "was_revoked", chosen, node=name, id=node_id))
