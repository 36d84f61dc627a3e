"""``officesync hub …``: run the hub and administer datasets and enrollment codes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import platformdirs
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from hub import nodes
from hub.app import create_app
from hub.db import create_schema
from hub.store import HubStore
from protocol.errors import ProtocolError, render

T = TypeVar("T")


def default_db_url() -> str:
    return "sqlite:///" + str(Path(platformdirs.user_data_dir("officesync")) / "hub.db")


def _fail(vi: str, en: str) -> click.ClickException:
    return click.ClickException(f"{vi} / {en}")


def _prepare_sqlite_dir(db_url: str) -> None:
    if db_url.startswith("sqlite:///") and len(db_url) > len("sqlite:///"):
        Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)


def _admin(db_url: str, fn: Callable[..., T], *args: Any) -> T:
    """Run one admin transaction, turning every failure into a one-line reason."""
    try:
        _prepare_sqlite_dir(db_url)
        store = HubStore(db_url)
    except (ValueError, OSError) as err:
        raise _fail("Địa chỉ cơ sở dữ liệu không hợp lệ", f"bad database URL: {err}") from err
    try:
        create_schema(store.engine)
        return store.transaction(fn, *args, write=True)
    except ProtocolError as err:
        raise _fail(render(err.code, "vi", err.params), render(err.code, "en", err.params)) \
            from err
    except SQLAlchemyError as err:
        orig = getattr(err, "orig", None)
        reason = (str(orig or err).splitlines() or [type(err).__name__])[0]
        raise _fail("Lỗi cơ sở dữ liệu", f"database error: {reason}") from err
    finally:
        store.engine.dispose()


db_option = click.option("--db", "db_url", default=default_db_url, show_default="platform data dir",
                         help="Database URL: sqlite:///path/hub.db or postgresql://…")


@click.group("hub")
def hub() -> None:
    """The OfficeSync cloud hub / Máy chủ Cloud OfficeSync."""


@hub.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8480, show_default=True, type=click.IntRange(0, 65535))
@click.option("--min-protocol", default=1, show_default=True, type=click.IntRange(1))
def serve(db_url: str, host: str, port: int, min_protocol: int) -> None:
    """Run the hub until SIGTERM or Ctrl+C."""
    _prepare_sqlite_dir(db_url)
    try:
        asyncio.run(_serve(db_url, host, port, min_protocol))
    except (ValueError, OSError, SQLAlchemyError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _fail("Không khởi động được máy chủ Cloud", f"cannot start the hub: {reason}") \
            from err


async def _serve(db_url: str, host: str, port: int, min_protocol: int) -> None:
    runner = web.AppRunner(create_app(db_url, min_protocol=min_protocol))
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
        await site.start()
        real_port = runner.addresses[0][1]
        print(f"officesync hub listening on http://{host}:{real_port}", flush=True)
        await _until_signal()
    finally:
        await runner.cleanup()


async def _until_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # Windows: KeyboardInterrupt instead
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@hub.group()
def dataset() -> None:
    """Datasets (one company's books) / Dữ liệu kế toán."""


@dataset.command("create")
@click.argument("dataset_id")
@db_option
def dataset_create(dataset_id: str, db_url: str) -> None:
    """Create dataset DATASET_ID (nothing happens if it exists)."""
    if _admin(db_url, nodes.create_dataset, dataset_id):
        click.echo(f"Đã tạo dữ liệu kế toán {dataset_id} / dataset {dataset_id} created")
    else:
        click.echo(f"Dữ liệu kế toán {dataset_id} đã tồn tại / dataset {dataset_id} "
                   "already exists")


@hub.command("enroll-code")
@click.option("--dataset", "wanted", multiple=True, required=True, help="Dataset to grant.")
@click.option("--ttl-hours", default=168.0, show_default=True, type=click.FloatRange(0.01))
@db_option
def enroll_code(wanted: tuple[str, ...], ttl_hours: float, db_url: str) -> None:
    """Print a one-time code that enrolls a node with access to the given datasets."""
    code = _admin(db_url, nodes.create_enroll_code, list(wanted), dt.timedelta(hours=ttl_hours))
    click.echo(f"Mã đăng ký dùng một lần / one-time enrollment code "
               f"({', '.join(wanted)}), valid {ttl_hours:g} h:", err=False)
    click.echo(code)
    sys.stdout.flush()
