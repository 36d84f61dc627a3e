"""``officesync download``, ``officesync maintain`` and ``officesync refresh`` (S11, docs/cli.md).

Each goes through the running node's control API (the same handlers as the LAN API's
``/datasets/{ds}/download|maintenance`` and ``…/{id}/refresh``). ``download`` and ``maintain``
start a job and follow it with a progress bar until it ends, then print its report; a job that
fails or is interrupted exits 1; a record that needs a person exits 4 (the report says which).
Errors are one line on stderr in the chosen language, exit non-zero.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agent.cli import CONFIG_OPTION, control_request, fail, load_or_fail
from agent.cli_text import lang_option
from agent.config import Config
from httpkit.control_client import ControlError
from protocol.errors import ProtocolError
from protocol.i18n import Lang, Text
from protocol.query import parse_date

POLL_S = 0.3
EXIT_FAILED = 1
EXIT_NEEDS_PERSON = 4

_TEXTS: dict[str, Text] = {
    "download": Text("Tải lại dữ liệu {dataset} từ Cloud", "Re-downloading {dataset} from the "
                     "cloud"),
    "maintenance": Text("Bảo trì dữ liệu {dataset}", "Data maintenance of {dataset}"),
    "queued": Text("Công việc {job} đang chờ (chờ kết nối Cloud)",
                   "Job {job} is waiting (for the cloud connection)"),
    "done": Text("Xong", "Done"),
    "failed": Text("Công việc {job} thất bại: {message}", "Job {job} failed: {message}"),
    "interrupted": Text("Công việc {job} bị dừng: {message}", "Job {job} was interrupted: "
                        "{message}"),
    "checked": Text("Đã so sánh {checked} bản ghi; số ngày khác nhau: {days}",
                    "Compared {checked} records; days that differed: {days}"),
    "refreshed": Text("{collection}/{id}: {message}", "{collection}/{id}: {message}"),
    "more": Text("… và {n} bản ghi khác", "… and {n} more records"),
}


def say(key: str, lang: Lang, **params: Any) -> str:
    return _TEXTS[key].get(lang).format(**params)


def _call(config: Config, method: str, path: str, body: Any = None) -> Any:
    try:
        return control_request(config, method, path, body)
    except ControlError as err:
        fail(str(err))


def _date(name: str, value: str, lang: Lang) -> str:
    try:
        parsed = parse_date(name, value)
    except ProtocolError as err:
        fail(err.body(lang)["error"]["message"], 2)
    assert parsed is not None
    return parsed


def print_report(report: dict[str, Any], lang: Lang, console: Console) -> None:
    """A job's report for a person: the summary, then each record fixed or needing a person."""
    summary = report.get("summary") or {}
    console.print(summary.get(lang, ""), highlight=False, markup=False)
    if "checked" in report:
        console.print(say("checked", lang, checked=report["checked"],
                          days=len(report.get("days") or [])), highlight=False, markup=False)
    for item in report.get("items") or []:
        message = (item.get("message") or {}).get(lang, item.get("outcome"))
        console.print(f"  {item.get('collection')} {item.get('key')} ({item.get('id')}): "
                      f"{message}", highlight=False, markup=False)
    hidden = int(report.get("items_total") or 0) - len(report.get("items") or [])
    if hidden > 0:
        console.print(say("more", lang, n=hidden), highlight=False, markup=False)


def follow(config: Config, job: dict[str, Any], title: str, console: Console) -> int:
    """Follow a job with a progress bar until it ends; print its report; the exit status."""
    lang = config.node.language
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task(title, total=None)
        while job["state"] in ("queued", "running"):
            progress = job.get("progress") or {}
            total = progress.get("total") or None
            description = (say("queued", lang, job=job["id"]) if job["state"] == "queued"
                           else title)
            bar.update(task, total=total, completed=progress.get("done", 0),
                       description=description)
            time.sleep(POLL_S)
            job = _call(config, "GET", f"/jobs/{job['id']}")
    report = job.get("report") or {}
    if job["state"] in ("failed", "interrupted"):
        error = report.get("error") or {}
        message = (error.get("message") or report.get("message") or {}).get(lang, "")
        fail(say(job["state"], lang, job=job["id"], message=message), EXIT_FAILED)
    print_report(report, lang, console)
    return EXIT_NEEDS_PERSON if report.get("needs_person") else 0


@click.command("download")
@click.argument("dataset")
@click.option("--collection", "collections", multiple=True,
              help="A collection to re-download (repeatable); default: all.")
@CONFIG_OPTION
@lang_option
def download(dataset: str, collections: tuple[str, ...], config_path: Path,
             lang: str | None) -> None:
    """Re-download whole collections of DATASET from the cloud ("Tải dữ liệu")."""
    config = load_or_fail(config_path, lang)
    body = {"collections": list(collections) or None}
    job = _call(config, "POST", f"/datasets/{dataset}/download", body)
    title = say("download", config.node.language, dataset=dataset)
    raise SystemExit(follow(config, job, title, Console()))


@click.command("maintain")
@click.argument("dataset")
@click.option("--from", "--date-from", "date_from", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "--date-to", "date_to", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--collection", "collections", multiple=True,
              help="A collection to check (repeatable); default: all.")
@CONFIG_OPTION
@lang_option
def maintain(dataset: str, date_from: str, date_to: str, collections: tuple[str, ...],
             config_path: Path, lang: str | None) -> None:
    """Data maintenance of DATASET for a date range ("Bảo trì dữ liệu"): compare with the
    cloud, repair what differs, report what needs a person."""
    config = load_or_fail(config_path, lang)
    say_lang = config.node.language
    body = {"date_from": _date("date_from", date_from, say_lang),
            "date_to": _date("date_to", date_to, say_lang),
            "collections": list(collections) or None}
    job = _call(config, "POST", f"/datasets/{dataset}/maintenance", body)
    title = say("maintenance", say_lang, dataset=dataset)
    raise SystemExit(follow(config, job, title, Console()))


@click.command("refresh")
@click.argument("dataset")
@click.argument("collection")
@click.argument("record_id", metavar="ID")
@CONFIG_OPTION
@lang_option
def refresh(dataset: str, collection: str, record_id: str, config_path: Path,
            lang: str | None) -> None:
    """Take this record's cloud version now (local changes are merged or become a conflict,
    never overwritten)."""
    config = load_or_fail(config_path, lang)
    answer = _call(config, "POST",
                   f"/datasets/{dataset}/records/{collection}/{record_id}/refresh")
    say_lang = config.node.language
    click.echo(say("refreshed", say_lang, collection=collection, id=record_id,
                   message=(answer.get("message") or {}).get(say_lang, answer.get("outcome"))))
    raise SystemExit(EXIT_NEEDS_PERSON if answer.get("outcome") == "conflict" else 0)


commands = [download, maintain, refresh]
