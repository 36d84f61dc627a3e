"""The tray's pure view-model: node status in, what to draw, say and notify out.

Nothing here touches a display, a network or a clock: the shell (``tray.shell``) and the
controller (``tray.controller``) feed it statuses and times and apply what it returns. Every
state and transition is tested in ``tests/tray/test_viewmodel.py``.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from protocol.connectivity import Connectivity
from protocol.i18n import Lang, local_clock
from protocol.local import DatasetStatus, NodeStatus, SelfCheckState
from tray.texts import TEXTS, text


class TrayState(StrEnum):
    """One look per state; the order is the legend order in ``docs/tray.md``."""

    IDLE = "idle"
    SYNCING = "syncing"
    PENDING = "pending"
    ATTENTION = "attention"
    DATASET_REFUSED = "dataset_refused"
    OFFLINE_BY_USER = "offline_by_user"
    NO_NETWORK = "no_network"
    CLOUD_UNAVAILABLE = "cloud_unavailable"
    AUTH_FAILED = "auth_failed"
    UPGRADE_REQUIRED = "upgrade_required"
    NOT_CONFIGURED = "not_configured"
    AGENT_DOWN = "agent_down"


class DownReason(StrEnum):
    """Why the tray has no status from the node."""

    NOT_RUNNING = "not_running"
    NO_TOKEN = "no_token"
    UNAUTHORIZED = "unauthorized"


class Glyph(StrEnum):
    CHECK = "check"
    ARROWS = "arrows"
    DOTS = "dots"
    EXCLAMATION = "exclamation"
    NO_ENTRY = "no_entry"
    PAUSE = "pause"
    CROSS = "cross"
    CLOUD = "cloud"
    KEY = "key"
    UP_ARROW = "up_arrow"
    EMPTY = "empty"
    QUESTION = "question"


@dataclass(frozen=True)
class IconSpec:
    """What the icon looks like: a badge shape and colour plus a white glyph.

    The glyph alone tells the states apart (colour-blind users); ``shape`` adds a second cue:
    ``circle`` while online or offline by choice, ``square`` when the cloud cannot be reached,
    ``triangle`` for states that need action, ``octagon`` (a stop sign) for a dataset the
    cloud refuses, a hollow ``ring`` for "no service".
    """

    glyph: Glyph
    fill: str
    shape: str = "circle"  # circle | square | triangle | octagon | ring


ICONS: Final[dict[TrayState, IconSpec]] = {
    TrayState.IDLE: IconSpec(Glyph.CHECK, "#1e8e3e"),
    TrayState.SYNCING: IconSpec(Glyph.ARROWS, "#1a73e8"),
    TrayState.PENDING: IconSpec(Glyph.DOTS, "#b06000"),
    TrayState.ATTENTION: IconSpec(Glyph.EXCLAMATION, "#c5221f", "triangle"),
    TrayState.DATASET_REFUSED: IconSpec(Glyph.NO_ENTRY, "#b3134f", "octagon"),
    TrayState.OFFLINE_BY_USER: IconSpec(Glyph.PAUSE, "#5f6368"),
    TrayState.NO_NETWORK: IconSpec(Glyph.CROSS, "#3c4043", "square"),
    TrayState.CLOUD_UNAVAILABLE: IconSpec(Glyph.CLOUD, "#e37400", "square"),
    TrayState.AUTH_FAILED: IconSpec(Glyph.KEY, "#a50e0e", "triangle"),
    TrayState.UPGRADE_REQUIRED: IconSpec(Glyph.UP_ARROW, "#7627bb", "triangle"),
    TrayState.NOT_CONFIGURED: IconSpec(Glyph.EMPTY, "#80868b"),
    TrayState.AGENT_DOWN: IconSpec(Glyph.QUESTION, "#80868b", "ring"),
}

_BY_CONNECTIVITY: Final[dict[Connectivity, TrayState]] = {
    Connectivity.OFFLINE_BY_USER: TrayState.OFFLINE_BY_USER,
    Connectivity.NO_NETWORK: TrayState.NO_NETWORK,
    Connectivity.CLOUD_UNAVAILABLE: TrayState.CLOUD_UNAVAILABLE,
    Connectivity.AUTH_FAILED: TrayState.AUTH_FAILED,
    Connectivity.UPGRADE_REQUIRED: TrayState.UPGRADE_REQUIRED,
    Connectivity.NOT_CONFIGURED: TrayState.NOT_CONFIGURED,
}

TOOLTIP_MAX: Final = 127  # Windows' NOTIFYICONDATA.szTip limit, minus the terminator


def derive_state(status: NodeStatus | None) -> TrayState:
    """The single state the icon shows: being offline outranks everything, then a dataset the
    cloud refuses (nothing of it reaches the cloud), then record failures, then work."""
    if status is None:
        return TrayState.AGENT_DOWN
    if not status.is_online:
        if status.connectivity is None:
            return TrayState.CLOUD_UNAVAILABLE
        return _BY_CONNECTIVITY[status.connectivity]
    if status.troubled:
        return TrayState.DATASET_REFUSED
    totals = status.totals
    if totals.error or totals.conflict or totals.blocked:
        return TrayState.ATTENTION
    if totals.syncing:
        return TrayState.SYNCING
    if totals.pending:
        return TrayState.PENDING
    return TrayState.IDLE


def state_label(state: TrayState, lang: Lang) -> str:
    return text(f"state.{state.value}", lang)


def tooltip(status: NodeStatus | None, lang: Lang) -> str:
    """``OfficeSync: <state in words>``, with the number of records when there is work."""
    state = derive_state(status)
    label = f"OfficeSync: {state_label(state, lang)}"
    if status is not None:
        totals = status.totals
        count = {
            TrayState.SYNCING: totals.outstanding,
            TrayState.PENDING: totals.outstanding,
            TrayState.ATTENTION: totals.failed,
        }.get(state, 0)
        if count:
            label += f" ({count})"
        if state is TrayState.DATASET_REFUSED:
            label += f" ({', '.join(d.id for d in status.troubled)})"
    return label[:TOOLTIP_MAX]


# --------------------------------------------------------------------------- menu


class MenuAction(StrEnum):
    TOGGLE_ONLINE = "toggle_online"
    SYNC_NOW = "sync_now"
    PAIRING_CODE = "pairing_code"
    OPEN_DASHBOARD = "open_dashboard"
    QUIT = "quit"


_ACTION_LABELS: Final[dict[MenuAction, str]] = {
    MenuAction.TOGGLE_ONLINE: "menu.work_online",
    MenuAction.SYNC_NOW: "menu.sync_now",
    MenuAction.PAIRING_CODE: "menu.pairing_code",
    MenuAction.OPEN_DASHBOARD: "menu.open_dashboard",
    MenuAction.QUIT: "menu.quit",
}


def action_label(action: MenuAction, lang: Lang) -> str:
    return text(_ACTION_LABELS[action], lang)


@dataclass(frozen=True)
class MenuEntry:
    """One menu line. ``checked`` is None for lines that are not check boxes."""

    text: str = ""
    action: MenuAction | None = None
    checked: bool | None = None
    default: bool = False
    enabled: bool = True
    separator: bool = False


SEPARATOR: Final = MenuEntry(separator=True)


@dataclass(frozen=True)
class PairingCode:
    code: str
    expires_at: datetime | None

    def expires_text(self) -> str:
        if self.expires_at is None:
            return "?"
        return local_clock(self.expires_at)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


def parse_pairing(raw: dict[str, object]) -> PairingCode:
    """``{"code","expires_at"}`` with ``expires_at`` as ISO 8601 or Unix seconds."""
    expires = raw.get("expires_at")
    when: datetime | None = None
    if isinstance(expires, int | float):
        when = datetime.fromtimestamp(float(expires)).astimezone()
    elif isinstance(expires, str):
        try:
            when = datetime.fromisoformat(expires.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None and when.tzinfo is None:
            when = when.astimezone()
    return PairingCode(code=str(raw.get("code", "")), expires_at=when)


def _dataset_line(ds: DatasetStatus, lang: Lang) -> str:
    if ds.download is not None:  # a first download: "cty-abc: đang tải 420.000 bản ghi"
        return f"{ds.id}: {ds.download.message_in(lang)}"
    counts = ds.tally
    line = text(
        "menu.dataset",
        lang,
        id=ds.id,
        pending=counts.outstanding,
        error=counts.error,
        conflict=counts.conflict,
    )
    if counts.blocked:
        line += text("menu.dataset_blocked", lang, blocked=counts.blocked)
    if not ds.connected:
        line += text("menu.dataset_disconnected", lang)
    elif (indexing := ds.search_message_in(lang)) is not None:
        line += f" · {indexing}"  # after a first download, for a minute or so
    return line


def sync_problem(ds: DatasetStatus, lang: Lang) -> str:
    """What is wrong with a refused or failing dataset and what to do: the node's message,
    else ours for the hub's code."""
    own = ds.sync.message_in(lang)
    if own:
        return own
    state, code = ds.sync.state.value, ds.sync.code or ""
    key = f"sync.{state}.{code}" if f"sync.{state}.{code}" in TEXTS else f"sync.{state}"
    return text(key, lang, id=ds.id, code=code or "?")


#: A menu is as wide as its longest line: a node's advice is wrapped to lines this wide, at
#: most ``PROBLEM_LINES`` of them (the notification carries the whole text).
PROBLEM_WIDTH: Final = 64
PROBLEM_LINES: Final = 4


def wrap_problem(message: str) -> list[str]:
    """``message`` as at most ``PROBLEM_LINES`` lines of ``PROBLEM_WIDTH``, "…" if cut."""
    lines = textwrap.wrap(message, PROBLEM_WIDTH) or [""]
    if len(lines) > PROBLEM_LINES:
        lines = lines[:PROBLEM_LINES]
        lines[-1] = textwrap.shorten(lines[-1] + " …", PROBLEM_WIDTH - 1, placeholder="") + "…"
    return lines


def _dataset_lines(ds: DatasetStatus, lang: Lang) -> list[MenuEntry]:
    lines = [MenuEntry(_dataset_line(ds, lang), enabled=False)]
    if ds.sync.troubled:
        wrapped = wrap_problem(sync_problem(ds, lang))
        lines += [MenuEntry(("⚠ " if i == 0 else "    ") + line, enabled=False)
                  for i, line in enumerate(wrapped)]
    check = ds.selfcheck.message_in(lang) if ds.connected else None
    if check and ds.selfcheck.state is not SelfCheckState.NEVER:
        # The node's own check: "Dữ liệu khớp với Cloud đến 10:00", or what needs a person.
        mark = "⚠ " if ds.selfcheck.state is SelfCheckState.NEEDS_PERSON else "✓ "
        lines += [MenuEntry((mark if i == 0 else "    ") + line, enabled=False)
                  for i, line in enumerate(wrap_problem(check))]
    return lines


def _status_lines(status: NodeStatus | None, down: DownReason, lang: Lang) -> list[MenuEntry]:
    lines = [MenuEntry(state_label(derive_state(status), lang), enabled=False)]
    if status is None:
        lines.append(MenuEntry(text(f"down.{down.value}", lang), enabled=False))
        return lines
    lines.append(MenuEntry(text("menu.workstations", lang, count=status.workstations),
                           enabled=False))
    if status.tls_fingerprint:
        # LAN TLS on: the fingerprint a workstation pins at pairing, to compare by eye.
        lines.append(MenuEntry(text("menu.tls", lang, fingerprint=status.tls_fingerprint),
                               enabled=False))
    datasets = [line for d in status.datasets for line in _dataset_lines(d, lang)] or [
        MenuEntry(text("menu.no_datasets", lang), enabled=False)]
    return [*lines, SEPARATOR, *datasets]


def build_menu(
    status: NodeStatus | None,
    lang: Lang,
    *,
    down: DownReason = DownReason.NOT_RUNNING,
    pairing: PairingCode | None = None,
) -> tuple[MenuEntry, ...]:
    """The whole menu, top to bottom. Actions that need the node are disabled without it."""
    up = status is not None

    def item(action: MenuAction, checked: bool | None = None, default: bool = False,
             enabled: bool = True) -> MenuEntry:
        return MenuEntry(action_label(action, lang), action, checked, default, enabled)

    entries = [
        *_status_lines(status, down, lang),
        SEPARATOR,
        item(MenuAction.TOGGLE_ONLINE, checked=bool(status and status.online), enabled=up),
        item(MenuAction.SYNC_NOW, default=True, enabled=up),
        SEPARATOR,
        item(MenuAction.PAIRING_CODE, enabled=up),
    ]
    if pairing is not None:
        entries.append(MenuEntry(
            text("menu.pairing_line", lang, code=pairing.code, expires=pairing.expires_text()),
            enabled=False,
        ))
    entries += [item(MenuAction.OPEN_DASHBOARD, enabled=up), SEPARATOR, item(MenuAction.QUIT)]
    return tuple(entries)


@dataclass(frozen=True)
class TrayView:
    state: TrayState
    icon: IconSpec
    tooltip: str
    menu: tuple[MenuEntry, ...]


def build_view(
    status: NodeStatus | None,
    lang: Lang,
    *,
    down: DownReason = DownReason.NOT_RUNNING,
    pairing: PairingCode | None = None,
    now: datetime | None = None,
) -> TrayView:
    """Everything the shell draws for one status; an expired pairing code is left out."""
    if pairing is not None and now is not None and pairing.expired(now):
        pairing = None
    state = derive_state(status)
    return TrayView(
        state=state,
        icon=ICONS[state],
        tooltip=tooltip(status, lang),
        menu=build_menu(status, lang, down=down, pairing=pairing),
    )
