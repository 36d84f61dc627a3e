"""``officesync ws``: a workstation client on the command line (docs/cli.md).

Records are printed as one JSON object (the record plus its ``etag``); errors as ONE line on
stderr, ``CODE: message``, with a non-zero exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import orjson
from pydantic import BaseModel

from protocol.accounting import ACCOUNTING_PACK
from protocol.errors import ErrorCode
from protocol.i18n import LANG_META_KEY, Lang, Text
from protocol.models import UUID_PATTERN, Record, SyncState
from protocol.query import RecordQuery
from protocol.schema import KEY_SEPARATOR
from workstation import messages
from workstation.client import RESOLVE_ACTIONS, Stored, WorkstationClient, WorkstationError
from workstation.discovery import DiscoveredNode
from workstation.discovery import discover as find_nodes
from workstation.pairing import Paired, node_json, pair_target, pick_node
from workstation.pairing import pair as pair_with
from workstation.profile import Profile, ProfileError, home_dir, load_profile, save_profile
from workstation.tokens import TokenError, forget_token, load_token, store_token

T = TypeVar("T")
EXIT_ERROR = 1


@dataclass
class _Options:
    lang: Lang | None


class CliFailure(Exception):
    """A local failure (not paired, bad --data …) reported like a node error."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


def _fail(key: str, lang: Lang, /, **params: Any) -> CliFailure:
    return CliFailure(messages.code_of(key), messages.text(key, lang, **params))


def _emit(obj: Any) -> None:
    click.echo(orjson.dumps(obj).decode())


def _record_json(stored: Stored | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    return {**stored.record.model_dump(mode="json"), "etag": stored.etag}


def _die(code: ErrorCode | str, message: str) -> NoReturn:
    line = " ".join(f"{code}: {message}".split())
    click.echo(line, err=True)
    raise click.exceptions.Exit(EXIT_ERROR)


def _chosen(ctx: click.Context) -> Lang | None:
    """The ``--lang`` given on the group (or ``officesync --lang``), if any."""
    opts = ctx.find_object(_Options)
    root = ctx.meta.get(LANG_META_KEY)
    return (opts.lang if opts else None) or (root if root in ("vi", "en") else None)


def _lang(ctx: click.Context, profile: Profile | None = None) -> Lang:
    """Language of local messages: --lang, else the profile's, else Vietnamese."""
    return _chosen(ctx) or (profile.language if profile else None) or "vi"


def _run(ctx: click.Context, make: Callable[[], Awaitable[T]]) -> T:
    """Run ``make()`` on a fresh event loop, turning every failure into the one-line error."""
    try:
        return asyncio.run(_awaited(make))
    except WorkstationError as err:
        _die(err.code.value, err.message)
    except CliFailure as err:
        _die(err.code.value, err.message)
    except messages.LocalError as err:
        _die(err.code.value, err.text(_lang(ctx)))


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def _paired_client(ctx: click.Context) -> WorkstationClient:
    home = home_dir()
    lang = _lang(ctx)
    try:
        profile = load_profile(home)
    except ProfileError as err:
        if err.missing:
            raise _fail("not_paired", lang) from None
        raise _fail("bad_profile", lang, path=err.path, reason=err.reason) from None
    try:
        token = load_token(home, profile.workstation_id, profile.token_store)
    except TokenError as err:
        raise _fail("token_missing", _lang(ctx, profile), reason=err) from None
    return WorkstationClient(
        profile.node_url,
        token,
        language=_chosen(ctx) or profile.language,
        fingerprint=profile.fingerprint,
    )


def _with_client(ctx: click.Context, action: Callable[[WorkstationClient], Awaitable[T]]) -> T:
    async def go() -> T:
        async with _paired_client(ctx) as client:
            return await action(client)

    return _run(ctx, go)


def _read_data(value: str, lang: Lang) -> str:
    """The text of ``--data``: inline, ``@file`` or ``@-`` (stdin)."""
    if not value.startswith("@"):
        return value
    if value == "@-":
        return sys.stdin.read()
    path = value[1:]
    try:
        return Path(path).read_text("utf-8")
    except FileNotFoundError:
        failure = _fail("file_not_found", lang, path=path)
    except (OSError, UnicodeDecodeError):
        failure = _fail("file_unreadable", lang, path=path)
    _die(failure.code.value, failure.message)


def _parse_data(value: str, lang: Lang) -> dict[str, Any]:
    """``--data``: inline JSON, ``@file`` or ``@-`` (stdin); must be a JSON object."""
    try:
        data = orjson.loads(_read_data(value, lang))
    except orjson.JSONDecodeError as err:
        failure = _fail("bad_json", lang, line=err.lineno, column=err.colno)
    else:
        if isinstance(data, dict):
            return data
        failure = _fail("not_object", lang)
    _die(failure.code.value, failure.message)


async def _etag(client: WorkstationClient, ds: str, coll: str, id: str, etag: str) -> str:
    """``--etag auto`` fetches the current ETag first (an explicit, visible choice)."""
    if etag != "auto":
        return etag
    return (await client.get(ds, coll, id)).etag


# --- the group --------------------------------------------------------------------------


@click.group("ws")
@click.option(
    "--lang", type=click.Choice(["vi", "en"]), envvar="OFFICESYNC_LANG", default=None,
    help="Language of messages (vi/en); default: the profile's, else the node's.",
)
@click.pass_context
def ws(ctx: click.Context, lang: Lang | None) -> None:
    """Workstation client of an OfficeSync node (máy trạm)."""
    ctx.obj = _Options(lang)


@ws.command()
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
              help="Seconds to listen for answers.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def discover(ctx: click.Context, timeout: float, as_json: bool) -> None:
    """Nodes found on the LAN with mDNS: name, URL, version, datasets, TLS fingerprint."""

    async def go() -> list[DiscoveredNode]:
        return await find_nodes(timeout)

    nodes = _run(ctx, go)
    if as_json:
        _emit([node_json(n) for n in nodes])
        return
    lang = _lang(ctx)
    if not nodes:
        click.echo(messages.text("no_nodes", lang, timeout=f"{timeout:g}"))
    for n in nodes:
        shown = ", ".join(n.datasets) or messages.label("none", lang)
        tls = f"TLS SHA-256: {n.fingerprint}" if n.fingerprint else messages.label("tls_off", lang)
        click.echo(f"{n.name}  {n.url}  {messages.label('version', lang)} {n.version}")
        click.echo(f"  {messages.label('datasets', lang)}: {shown}")
        click.echo(f"  {tls}")


@ws.command()
@click.option("--node", "node_url", default=None, help="The node's LAN URL, e.g. http://h:8470")
@click.option("--discover", "discover_name", is_flag=False, flag_value="", default=None,
              metavar="[NAME]", help="Find the node with mDNS (the only one, or the one NAME).")
@click.option("--discover-timeout", type=click.FloatRange(0.1, 60), default=3.0,
              show_default=True, help="Seconds to listen for nodes with --discover.")
@click.option("--code", required=True, help="One-time pairing code from the node.")
@click.option("--name", default=None, help="This workstation's name [host name].")
@click.option("--fingerprint", default=None,
              help="The node's TLS SHA-256 fingerprint (hex, colons allowed).")
@click.pass_context
def pair(
    ctx: click.Context, node_url: str | None, discover_name: str | None,
    discover_timeout: float, code: str, name: str | None, fingerprint: str | None,
) -> None:
    """Pair this workstation with a node; the token goes to the OS keyring or a 0600 file.

    With an https node the certificate is pinned: to --fingerprint, to the fingerprint the
    node advertises (--discover), or else to the one it states at first contact."""
    chosen = _chosen(ctx)
    lang = _lang(ctx)
    ws_name = name or socket.gethostname()

    async def go() -> dict[str, Any]:
        if (node_url is None) == (discover_name is None):
            raise messages.LocalError("node_or_discover")
        found = None
        if discover_name is not None:
            nodes = await find_nodes(discover_timeout)
            found = pick_node(nodes, discover_name or None, discover_timeout)
        target = pair_target(node_url, found, fingerprint)
        paired = await pair_with(target, code, ws_name, chosen)
        return _save_pairing(paired, ws_name, chosen, lang)

    _emit(_run(ctx, go))


def _save_pairing(paired: Paired, ws_name: str, chosen: Lang | None, lang: Lang) -> dict[str, Any]:
    """Keep the token and the profile (replacing an earlier pairing); the JSON to print."""
    home = home_dir()
    answer = paired.answer
    with contextlib.suppress(ProfileError):
        old = load_profile(home)
        forget_token(home, old.workstation_id, old.token_store)
    where = store_token(home, answer.workstation_id, answer.token)
    profile = Profile(
        node_url=paired.url, workstation_id=answer.workstation_id, name=ws_name,
        fingerprint=paired.fingerprint, token_store=where.store, language=chosen,
    )
    save_profile(profile, home)
    note = "token_in_keyring" if where.store == "keyring" else "token_in_file"
    return {
        "workstation_id": answer.workstation_id, "node_url": profile.node_url,
        "name": ws_name, "fingerprint": paired.fingerprint, "token_store": where.store,
        "token_location": where.where, "message": messages.text(note, lang, where=where.where),
    }


@ws.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """The paired node's name, version, protocol and datasets."""
    _emit(_with_client(ctx, lambda c: c.info()))


@ws.command()
@click.pass_context
def datasets(ctx: click.Context) -> None:
    """Datasets the node hosts, each with ``connected``."""
    _emit(_with_client(ctx, lambda c: c.datasets()))


@ws.command("list")
@click.argument("dataset")
@click.argument("collection")
@click.option("--key", default=None)
@click.option("--q", default=None, help="Free-text search.")
@click.option("--date-from", default=None, help="YYYY-MM-DD")
@click.option("--date-to", default=None, help="YYYY-MM-DD")
@click.option("--sync-state", type=click.Choice([s.value for s in SyncState]), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=None)
@click.option("--after", default=None, help="Cursor from a previous page's 'next'.")
@click.pass_context
def list_records(
    ctx: click.Context, /, dataset: str, collection: str, sync_state: str | None,
    limit: int | None, **filters: str | None,
) -> None:
    """List records: prints {"items": [...], "next": cursor|null}."""
    query = RecordQuery(
        **filters, sync_state=None if sync_state is None else SyncState(sync_state),
        limit=limit,
    )
    page = _with_client(ctx, lambda c: c.list_records(dataset, collection, query))
    _emit(page.model_dump(mode="json"))


@ws.command()
@click.argument("dataset")
@click.argument("collection")
@click.argument("id")
@click.pass_context
def get(ctx: click.Context, dataset: str, collection: str, id: str) -> None:
    """One record with its etag."""
    _emit(_record_json(_with_client(ctx, lambda c: c.get(dataset, collection, id))))


@ws.command()
@click.argument("dataset")
@click.argument("collection")
@click.option("--data", required=True, help="JSON object, @file or @- (stdin).")
@click.option("--id", "record_id", default=None, help="Record UUID [made by the node].")
@click.pass_context
def create(
    ctx: click.Context, dataset: str, collection: str, data: str, record_id: str | None
) -> None:
    """Create a record; prints it with its etag."""
    body = _parse_data(data, _lang(ctx))
    stored = _with_client(ctx, lambda c: c.create(dataset, collection, body, id=record_id))
    _emit(_record_json(stored))


_ETAG_HELP = "ETag from get/list (7 or '\"7\"'), or 'auto' to fetch the current one first."


@ws.command()
@click.argument("dataset")
@click.argument("collection")
@click.argument("id")
@click.option("--data", required=True, help="JSON object, @file or @- (stdin).")
@click.option("--etag", required=True, help=_ETAG_HELP)
@click.pass_context
def update(
    ctx: click.Context, dataset: str, collection: str, id: str, data: str, etag: str
) -> None:
    """Replace a record's data, only if it is still at ETAG (else STALE_LOCAL_COPY)."""
    body = _parse_data(data, _lang(ctx))

    async def action(c: WorkstationClient) -> Stored:
        current = await _etag(c, dataset, collection, id, etag)
        return await c.update(dataset, collection, id, body, current)

    _emit(_record_json(_with_client(ctx, action)))


# --- settling what waits (S5, S6, S9) -----------------------------------------------------


# Labels of ``officesync ws conflicts``'s human output.
_WAIT_LABELS: dict[str, Text] = {
    "nothing": Text("Không có bản ghi nào đang chờ xử lý trong dữ liệu {ds}",
                    "Nothing waits in dataset {ds}"),
    "error": Text("lỗi", "error"),
    "conflict": Text("xung đột", "conflict"),
    "blocked": Text("đang chờ", "blocked"),
    "fields": Text("trường khác nhau", "clashing fields"),
    "base": Text("bản gốc", "base"),
    "local": Text("văn phòng này", "this office"),
    "cloud": Text("Cloud", "cloud"),
    "none": Text("(trống)", "(blank)"),
    "blocked_by": Text("chờ", "waits for"),
    "actions": Text("cách xử lý", "to settle"),
    "blocker_first": Text("xử lý {blocker} trước, bản ghi này sẽ tự đồng bộ",
                          "settle {blocker} first, this record then syncs by itself"),
    "dataset": Text("Dữ liệu {ds} chưa đồng bộ được", "Dataset {ds} does not sync"),
}


def _wait_label(key: str, lang: Lang, **params: Any) -> str:
    return _WAIT_LABELS[key].get(lang).format(**params)


def _collection_label(collection: str, lang: Lang) -> str:
    """The collection's name for people ("Khách hàng"), or its wire name when unknown."""
    if collection in ACCOUNTING_PACK:
        return ACCOUNTING_PACK.get(collection).label.get(lang)
    return collection


def _record_name(collection: str, key: str, lang: Lang) -> str:
    """The record as an accountant names it: "Khách hàng KH100", "Phiếu thu PT000123"."""
    if collection in ACCOUNTING_PACK:
        return ACCOUNTING_PACK.get(collection).record_label(key).get(lang)
    return f"{collection} {key}"


def _field_label(collection: str, name: str, lang: Lang) -> str:
    if collection in ACCOUNTING_PACK:
        label = ACCOUNTING_PACK.get(collection).fields.get(name)
        if label is not None:
            return f"{label.get(lang)} ({name})"
    return name


def _parse_choices(values: tuple[str, ...], lang: Lang) -> dict[str, str]:
    """``--choose FIELD=local|cloud``, each at most once per field (the last one wins)."""
    choices: dict[str, str] = {}
    for value in values:
        name, sep, side = value.partition("=")
        side = side.strip().lower()
        if not sep or not name.strip() or side not in ("local", "cloud"):
            raise _fail("bad_choice", lang, value=value)
        choices[name.strip()] = side
    return choices


async def _record_id(client: WorkstationClient, ds: str, collection: str, typed: str,
                     lang: Lang) -> str:
    """The record's id: ``typed`` itself when it is a UUID, else the record whose key it is
    (the one waiting to be settled when the cloud's record of that key is here too)."""
    if re.fullmatch(UUID_PATTERN, typed.strip().lower()):
        return typed.strip().lower()
    page = await client.list_records(ds, collection, RecordQuery(key=typed, limit=10))
    found = page.items
    schema = ACCOUNTING_PACK.get(collection) if collection in ACCOUNTING_PACK else None
    if not found and schema is not None and schema.series is not None:
        # A voucher named by its number alone ("PT000123"): its key is "receipt/PT000123".
        number = schema.series.number_field
        wanted = schema.key_of(dict.fromkeys(schema.key_fields, typed)).split(KEY_SEPARATOR)[-1]
        page = await client.list_records(ds, collection, RecordQuery(q=typed, limit=50))
        found = [r for r in page.items if schema.key_data(r.key).get(number) == wanted]
    waiting = [r for r in found if r.sync.state in _WAITING]
    chosen = waiting or found
    label = _collection_label(collection, lang).lower()
    if not chosen:
        raise _fail("key_not_found", lang, label=label, key=typed, ds=ds)
    if len(chosen) > 1:
        raise _fail("key_ambiguous", lang, label=label, key=typed,
                            ids=", ".join(r.id for r in chosen))
    return chosen[0].id


_WAITING = (SyncState.ERROR, SyncState.CONFLICT, SyncState.BLOCKED)


@ws.command()
@click.argument("dataset")
@click.argument("collection")
@click.argument("id")
@click.argument("action")
@click.option("--data", default=None,
              help="merge: the merged record, a JSON object, @file or @- (stdin).")
@click.option("--choose", "choose", multiple=True, metavar="FIELD=local|cloud",
              help="merge: the side to take for a clashing field (repeat per field).")
@click.option("--new-key", default=None, help="rename: the record's new key (e.g. KH100B).")
@click.option("--renumber", is_flag=True,
              help="rename a voucher: a new number from this node's series.")
@click.option("--cascade", is_flag=True,
              help="discard: the local records that depend on this one too.")
@click.pass_context
def resolve(
    ctx: click.Context, dataset: str, collection: str, id: str, action: str, data: str | None,
    choose: tuple[str, ...], new_key: str | None, renumber: bool, cascade: bool,
) -> None:
    """Settle a record in conflict, error or blocked; prints the settled record.

    ID is the record's id or its key (KH100). ACTION is one of: take_cloud (drop my change,
    take the cloud's version), keep_local (send mine again on top of the cloud's), merge
    (--choose FIELD=local|cloud per clashing field, or --data with the merged record),
    restore (the cloud deleted it: create it again with my data), discard (drop my record;
    --cascade: and what depends on it), link_existing (my duplicate is the cloud's record
    of the same key: repoint what refers to mine), rename (--new-key K, or --renumber for a
    voucher). See officesync ws conflicts DATASET."""
    lang = _lang(ctx)
    if action not in RESOLVE_ACTIONS:
        failure = _fail("bad_action", lang, action=action,
                                actions=", ".join(RESOLVE_ACTIONS))
        _die(failure.code.value, failure.message)
    body = None if data is None else _parse_data(data, lang)
    try:
        choices = _parse_choices(choose, lang)
    except CliFailure as err:
        _die(err.code.value, err.message)

    async def go(c: WorkstationClient) -> Stored:
        record_id = await _record_id(c, dataset, collection, id, lang)
        return await c.resolve(dataset, collection, record_id, action, data=body,
                               choices=choices, new_key=new_key, renumber=renumber,
                               cascade=cascade)

    _emit(_record_json(_with_client(ctx, go)))


def _clashes(details: Mapping[str, Any]) -> list[str]:
    """The clashing fields a conflict's details name (the node's ``clashes``)."""
    for name in ("clashes", "fields", "conflict_fields"):
        found = details.get(name)
        if isinstance(found, list) and all(isinstance(f, str) for f in found):
            return list(found)
    return []


def _actions_for(record: Record) -> list[str]:
    """The resolutions that fit a waiting record, the likeliest first."""
    code = record.sync.code
    details: Mapping[str, Any] = record.sync.details or {}
    if record.sync.state is SyncState.BLOCKED:
        return []
    if code is ErrorCode.DUPLICATE_KEY:
        return ["link_existing", "rename", "discard"]
    if code is ErrorCode.RECORD_DELETED or details.get("kind") == "deleted":
        if details.get("deleted_on") == "local":  # I deleted it, the other office changed it
            return ["take_cloud", "keep_local"]
        return ["restore", "discard"]
    if record.sync.state is SyncState.CONFLICT:
        return ["take_cloud", "keep_local", "merge"]
    if record.version is None:
        return ["discard"]
    return ["take_cloud", "keep_local"]


def _blocker_json(value: object) -> dict[str, Any] | None:
    """The record a blocked one waits for: the node's description ({id, collection, label,
    key, name}) or, from an older node, its bare id."""
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return {"id": str(value)}


def _text_of(value: Any, lang: Lang) -> str:
    """A label the node sent as ``{"vi", "en"}``, or as plain text."""
    if isinstance(value, Mapping):
        return str(value.get(lang) or value.get("vi") or "")
    return "" if value is None else str(value)


def waiting_entry(record: Record, lang: Lang) -> dict[str, Any]:
    """One line of ``officesync ws conflicts``: what waits, why, what differs, what to do."""
    details: Mapping[str, Any] = record.sync.details or {}
    current = details.get("current") if isinstance(details.get("current"), Mapping) else None
    cloud_data = (current or {}).get("data") if current else None
    base = details.get("base") if isinstance(details.get("base"), Mapping) else None
    if base is None and isinstance(details.get("base_data"), Mapping):
        base = details["base_data"]
    # The node keeps the newest cloud copy it saw as ``cloud`` (and ``current``).
    if isinstance(details.get("cloud"), Mapping):
        cloud_data = details["cloud"]
    cloud: Mapping[str, Any] = cloud_data if isinstance(cloud_data, Mapping) else {}
    fields = [{
        "field": name,
        "label": _field_label(record.collection, name, lang),
        "base": (base or {}).get(name),
        "local": record.data.get(name),
        "cloud": cloud.get(name),
    } for name in _clashes(details)]
    entry: dict[str, Any] = {
        "collection": record.collection,
        "label": _collection_label(record.collection, lang),
        "name": _record_name(record.collection, record.key, lang),
        "id": record.id,
        "key": record.key,
        "state": record.sync.state.value,
        "code": None if record.sync.code is None else record.sync.code.value,
        "message": record.sync.message,
        "blocked_by": _blocker_json(record.sync.blocked_by),
        "fields": fields,
        "actions": _actions_for(record),
    }
    if entry["blocked_by"] is not None:
        entry["blocker"] = (entry["blocked_by"].get("name")
                            or _text_of(details.get("blocked_by"), lang)
                            or entry["blocked_by"].get("id"))
    if isinstance(details.get("kind"), str):
        entry["kind"] = details["kind"]
    return entry


def _shown(value: Any, lang: Lang) -> str:
    if value is None:
        return _wait_label("none", lang)
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _print_waiting(ds: str, entries: list[dict[str, Any]], dataset_state: Any,
                   lang: Lang) -> None:
    if isinstance(dataset_state, Mapping) and dataset_state.get("message"):
        message = _text_of(dataset_state.get("message"), lang)
        click.echo(f"{_wait_label('dataset', lang, ds=ds)}: {message}")
    if not entries:
        click.echo(_wait_label("nothing", lang, ds=ds))
    for e in entries:
        state = _wait_label(e["state"], lang) if e["state"] in _WAIT_LABELS else e["state"]
        code = f" {e['code']}" if e["code"] else ""
        click.echo(f"{e['name']}  [{state}{code}]  id {e['id']}")
        if e["message"]:
            click.echo(f"  {e['message']}")
        if e["fields"]:
            click.echo(f"  {_wait_label('fields', lang)}:")
            for f in e["fields"]:
                click.echo(
                    f"    {f['label']}: {_wait_label('base', lang)} {_shown(f['base'], lang)}"
                    f" | {_wait_label('local', lang)} {_shown(f['local'], lang)}"
                    f" | {_wait_label('cloud', lang)} {_shown(f['cloud'], lang)}")
        if e.get("blocker"):
            hint = _wait_label("blocker_first", lang, blocker=e["blocker"])
            click.echo(f"  {_wait_label('actions', lang)}: {hint}")
        elif e["actions"]:
            click.echo(f"  {_wait_label('actions', lang)}: officesync ws resolve {ds} "
                       f"{e['collection']} {e['key'] or e['id']} {'|'.join(e['actions'])}")


@ws.command()
@click.argument("dataset")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_context
def conflicts(ctx: click.Context, dataset: str, as_json: bool) -> None:
    """What waits to be settled: every record in conflict, error or blocked, with its
    collection, key, state, reason, clashing fields (base, this office, cloud) and the
    resolutions that fit (officesync ws resolve)."""
    answer = _with_client(ctx, lambda c: c.waiting(dataset))
    lang = _lang(ctx)
    entries = [waiting_entry(r, lang) for r in answer.items]
    if as_json:
        _emit(entries)
        return
    _print_waiting(dataset, entries, answer.dataset, lang)


def _guarded(verb: str, doc: str) -> click.Command:
    @click.argument("dataset")
    @click.argument("collection")
    @click.argument("id")
    @click.option("--etag", required=True, help=_ETAG_HELP)
    @click.pass_context
    def command(ctx: click.Context, dataset: str, collection: str, id: str, etag: str) -> None:
        async def action(c: WorkstationClient) -> Stored | None:
            current = await _etag(c, dataset, collection, id, etag)
            method = {"delete": c.delete, "post": c.post, "unpost": c.unpost}[verb]
            return await method(dataset, collection, id, current)

        _emit(_record_json(_with_client(ctx, action)))

    command.__doc__ = doc
    return ws.command(verb)(command)


_guarded("delete", "Delete a record, only if it is still at ETAG.")
_guarded("post", "Post (ghi sổ) a voucher, only if it is still at ETAG.")
_guarded("unpost", "Unpost (bỏ ghi) a voucher, only if it is still at ETAG.")


@ws.command()
@click.argument("dataset")
@click.pass_context
def status(ctx: click.Context, dataset: str) -> None:
    """Sync summary of a dataset: connectivity, counts per state, last push/pull."""
    _emit(_with_client(ctx, lambda c: c.sync_summary(dataset)))


@ws.command()
@click.argument("dataset")
@click.pass_context
def issues(ctx: click.Context, dataset: str) -> None:
    """Records in error, conflict or blocked, with their reasons."""
    found = _with_client(ctx, lambda c: c.sync_issues(dataset))
    _emit([r.model_dump(mode="json") for r in found])


@ws.command("sync")
@click.argument("dataset")
@click.pass_context
def sync_now(ctx: click.Context, dataset: str) -> None:
    """Ask the node to sync this dataset now."""
    _emit(_with_client(ctx, lambda c: c.sync_now(dataset)))


@ws.command()
@click.argument("dataset", required=False)
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after N events.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after S seconds.")
@click.pass_context
def watch(
    ctx: click.Context, dataset: str | None, count: int | None, timeout: float | None
) -> None:
    """Print the node's events as JSON lines until Ctrl-C, --count or --timeout."""

    async def action(c: WorkstationClient) -> None:
        await c.info()  # a wrong URL fails now; a node restarted later is reconnected to
        seen = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for event in c.events(dataset, reconnect=True):
                    click.echo(orjson.dumps(event).decode())
                    sys.stdout.flush()
                    seen += 1
                    if count is not None and seen >= count:
                        return

    with contextlib.suppress(KeyboardInterrupt):
        _with_client(ctx, action)
