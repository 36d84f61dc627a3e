"""``officesync export`` and ``officesync import`` (docs/cli.md, docs/xml.md).

Both talk to the running node through its control API (``/control/v1/datasets/{ds}/export``
and ``…/import``, the same handlers as the LAN API's), so they need the node's data dir (the
``--config``) and nothing else: no workstation pairing. ``export`` streams the document to
``--out`` (a temporary file renamed at the end: an interrupted export leaves no half file);
``import`` prints the per-record report and exits 1 when a record failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import click
from rich.console import Console
from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn

from agent import xmlio
from agent.cli import CONFIG_OPTION, fail, load_or_fail
from agent.cli_text import lang_option
from agent.config import Config
from httpkit.control_client import ControlError, ControlTarget, resolve_endpoint
from protocol.errors import ErrorCode, render
from protocol.i18n import Lang, Text

MIB = 1024 * 1024
TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_read=600)

_TEXTS: dict[str, Text] = {
    "not_running": Text("Máy chủ OfficeSync không chạy (không kết nối được {url})",
                        "The OfficeSync node is not running (cannot connect to {url})"),
    "refused": Text("Máy chủ từ chối (HTTP {status})", "The node refused (HTTP {status})"),
    "exported": Text("Đã xuất {size} byte vào {path}", "Exported {size} bytes to {path}"),
    "exporting": Text("Đang xuất", "Exporting"),
    "failed_records": Text("{n} bản ghi không nhập được (xem báo cáo ở trên)",
                           "{n} records were not imported (see the report above)"),
    "no_file": Text("Không đọc được tệp {path}", "Cannot read the file {path}"),
    "cannot_write": Text("Không ghi được tệp {path}: {reason}",
                         "Cannot write the file {path}: {reason}"),
}


def _say(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].format(**params).get(lang)


class _Refused(Exception):
    pass


def _error_message(status: int, body: bytes, lang: Lang) -> str:
    try:
        error = json.loads(body)["error"]
        message = error["message"]
        if isinstance(message, str) and message:
            return message
    except (ValueError, KeyError, TypeError):
        pass
    return _say("refused", lang, status=status)


def _endpoint(config: Config) -> tuple[str, dict[str, str], Lang]:
    lang = config.node.language
    where = ControlTarget(config.data_dir, config.control.host, config.control.port)
    try:
        endpoint = resolve_endpoint(where, lang)
    except ControlError as err:
        fail(str(err))
    headers = {"Authorization": f"Bearer {endpoint.token}", "Accept-Language": lang}
    return endpoint.base_url, headers, lang


async def _export(base: str, headers: dict[str, str], lang: Lang, dataset: str,
                  params: dict[str, str], f: BinaryIO) -> int:
    size = 0
    progress = Progress(SpinnerColumn(), TextColumn(_say("exporting", lang)), DownloadColumn(),
                        console=Console(stderr=True), transient=True,
                        disable=not sys.stderr.isatty())
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.get(
        f"{base}/datasets/{dataset}/export", params=params, headers=headers,
    ) as resp:
        if resp.status >= 400:
            raise _Refused(_error_message(resp.status, await resp.read(), lang))
        with progress:
            task = progress.add_task("export", total=None)
            async for chunk in resp.content.iter_chunked(256 * 1024):
                f.write(chunk)
                size += len(chunk)
                progress.update(task, completed=size)
    return size


async def _import(base: str, headers: dict[str, str], lang: Lang, dataset: str,
                  duplicates: str, body: bytes) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session, session.post(
        f"{base}/datasets/{dataset}/import", params={"duplicates": duplicates}, data=body,
        headers={**headers, "Content-Type": xmlio.CONTENT_TYPE},
    ) as resp:
        body = await resp.read()
        if resp.status >= 400:
            raise _Refused(_error_message(resp.status, body, lang))
        answer: dict[str, Any] = json.loads(body)
        return answer


def _run(coro: Any, base: str, lang: Lang) -> Any:
    try:
        return asyncio.run(coro)
    except _Refused as err:
        fail(str(err))
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as err:
        if isinstance(err, aiohttp.ClientResponseError):
            fail(_say("refused", lang, status=err.status))
        fail(_say("not_running", lang, url=base.removesuffix("/control/v1")))


@click.command("export")
@click.argument("dataset")
@click.option("--scope", type=click.Choice(["pending", "range"]), default="pending",
              show_default=True, help="pending: records with changes not synced yet; range: "
              "records dated in --date-from..--date-to. The catalogs they use come too.")
@click.option("--date-from", "--from", "date_from",
              help="First date (YYYY-MM-DD), with --scope range.")
@click.option("--date-to", "--to", "date_to",
              help="Last date (YYYY-MM-DD), with --scope range.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The XML file to write.")
@CONFIG_OPTION
@lang_option
def export(dataset: str, scope: str, date_from: str | None, date_to: str | None, out: Path,
           config_path: Path, lang: str | None) -> None:
    """Export a dataset's records to an XML file (docs/xml.md)."""
    config = load_or_fail(config_path, lang)
    base, headers, say = _endpoint(config)
    params = {"scope": scope}
    if date_from:
        params["date_from"] = date_from
    if date_to:
        params["date_to"] = date_to
    tmp = out.with_name(f".{out.name}.part")  # renamed when complete
    try:
        with open(tmp, "wb") as f:
            size = _run(_export(base, headers, say, dataset, params, f), base, say)
        os.replace(tmp, out)
    except OSError as err:
        fail(_say("cannot_write", say, path=out, reason=err.strerror or type(err).__name__))
    finally:
        tmp.unlink(missing_ok=True)
    click.echo(_say("exported", say, size=size, path=out))


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dataset", required=True, help="The dataset to import into.")
@click.option("--duplicates", type=click.Choice(["skip", "renumber"]), default="skip",
              show_default=True, help="A voucher whose number the dataset already has: skip "
              "it, or give it the next number of this node's series.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@CONFIG_OPTION
@lang_option
def import_(file: Path, dataset: str, duplicates: str, as_json: bool, config_path: Path,
            lang: str | None) -> None:
    """Import an XML file into a dataset; print the per-record report."""
    config = load_or_fail(config_path, lang)
    say = config.node.language
    try:
        size = file.stat().st_size
    except OSError:
        fail(_say("no_file", say, path=file))
    limit = int(config.inbox.max_file_mb * MIB)
    if size > limit:
        fail(render(ErrorCode.PAYLOAD_TOO_LARGE, say, {"limit": f"{limit / MIB:g} MiB"}))
    base, headers, say = _endpoint(config)
    try:
        with open(file, "rb") as f:
            body = f.read(limit + 1)  # bounded: the node checks the limit again
    except OSError:
        fail(_say("no_file", say, path=file))
    answer = _run(_import(base, headers, say, dataset, duplicates, body), base, say)
    report = xmlio.ImportReport.model_validate(answer)
    if as_json:
        click.echo(json.dumps(answer, ensure_ascii=False, indent=2))
    else:
        click.echo(xmlio.report_text(report, say, file.name), nl=False)
    if report.counts.get("failed"):
        fail(_say("failed_records", say, n=report.counts["failed"]))


import_.name = "import"
xml_commands = [export, import_]
