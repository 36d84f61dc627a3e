"""The tray's pure view-model: node status in, what to draw, say and notify out.

Nothing here touches a display, a network or a clock: the shell (``tray.shell``) and the
controller (``tray.controller``) feed it statuses and times and apply what it returns. Every
state and transition is tested in ``tests/tray/test_viewmodel.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

from protocol.connectivity import Connectivity
from protocol.i18n import Lang
from tray.status import Counts, NodeStatus
from tray.texts import text


class TrayState(StrEnum):
    """One look per state; the order is the legend order in ``docs/tray.md``."""

    IDLE = "idle"
    SYNCING = "syncing"
    PENDING = "pending"
    ATTENTION = "attention"
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
    PAUSE = "pause"
    CROSS = "cross"
    CROSSED_CLOUD = "crossed_cloud"
    KEY = "key"
    UP_ARROW = "up_arrow"
    EMPTY = "empty"
    QUESTION = "question"


@dataclass(frozen=True)
class IconSpec:
    """What the icon looks like: a badge shape and colour plus a white glyph.

    The glyph alone tells the states apart (colour-blind users); ``shape`` adds a second cue
    for the states that need action (``triangle``) and for "no service" (hollow ``ring``).
    """

    glyph: Glyph
    fill: str
    shape: str = "circle"  # circle | triangle | ring


ICONS: Final[dict[TrayState, IconSpec]] = {
    TrayState.IDLE: IconSpec(Glyph.CHECK, "#1e8e3e"),
    TrayState.SYNCING: IconSpec(Glyph.ARROWS, "#1a73e8"),
    TrayState.PENDING: IconSpec(Glyph.DOTS, "#b06000"),
    TrayState.ATTENTION: IconSpec(Glyph.EXCLAMATION, "#c5221f", "triangle"),
    TrayState.OFFLINE_BY_USER: IconSpec(Glyph.PAUSE, "#5f6368"),
    TrayState.NO_NETWORK: IconSpec(Glyph.CROSS, "#3c4043"),
    TrayState.CLOUD_UNAVAILABLE: IconSpec(Glyph.CROSSED_CLOUD, "#e37400"),
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

#: Offline reasons that need the user to act; changing to one of them is notified again.
ACTION_NEEDED: Final = frozenset({Connectivity.AUTH_FAILED, Connectivity.UPGRADE_REQUIRED})

TOOLTIP_MAX: Final = 127  # Windows' NOTIFYICONDATA.szTip limit, minus the terminator


def derive_state(status: NodeStatus | None) -> TrayState:
    """The single state the icon shows; being offline outranks counts, failures outrank work."""
    if status is None:
        return TrayState.AGENT_DOWN
    if not status.is_online:
        if status.connectivity is None:
            return TrayState.CLOUD_UNAVAILABLE
        return _BY_CONNECTIVITY[status.connectivity]
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
        return self.expires_at.astimezone().strftime("%H:%M")

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


def _dataset_line(ds_id: str, counts: Counts, connected: bool, lang: Lang) -> str:
    line = text(
        "menu.dataset",
        lang,
        id=ds_id,
        pending=counts.outstanding,
        error=counts.error,
        conflict=counts.conflict,
    )
    if counts.blocked:
        line += text("menu.dataset_blocked", lang, blocked=counts.blocked)
    if not connected:
        line += text("menu.dataset_disconnected", lang)
    return line


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
    datasets = [
        MenuEntry(_dataset_line(d.id, d.counts, d.connected, lang), enabled=False)
        for d in status.datasets
    ] or [MenuEntry(text("menu.no_datasets", lang), enabled=False)]
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


# --------------------------------------------------------------------------- notifications


class NoteKind(StrEnum):
    WENT_OFFLINE = "went_offline"
    BACK_ONLINE = "back_online"
    ERRORS = "errors"
    CONFLICTS = "conflicts"
    PAIRING = "pairing"
    ACTION_FAILED = "action_failed"


@dataclass(frozen=True)
class Notification:
    kind: NoteKind
    title: str
    message: str


def pairing_note(pairing: PairingCode, lang: Lang) -> Notification:
    return Notification(
        NoteKind.PAIRING,
        text("note.pairing.title", lang),
        text("note.pairing.body", lang, code=pairing.code, expires=pairing.expires_text()),
    )


def action_failed_note(reason: str | None, lang: Lang) -> Notification:
    """``reason`` is the node's own error message; None means the node is not reachable."""
    return Notification(
        NoteKind.ACTION_FAILED,
        text("note.failed.title", lang),
        reason or text("note.failed.down", lang),
    )


#: After coming back online, the "back online" note waits this long at most for the backlog to
#: drain, so it can say how many records went out; it fires at once when nothing is left.
CATCH_UP_WINDOW_S: Final = 20.0


@dataclass
class _CatchUp:
    unsent_before: int
    since: float


def _unsent(status: NodeStatus) -> int:
    """Records not yet on the cloud: waiting, in flight, or stuck."""
    totals = status.totals
    return totals.outstanding + totals.failed


def _rises(old: NodeStatus, new: NodeStatus, field_name: str) -> tuple[int, list[str]]:
    before = {d.id: getattr(d.counts, field_name) for d in old.datasets}
    rise, where = 0, []
    for ds in new.datasets:
        delta = getattr(ds.counts, field_name) - before.get(ds.id, 0)
        if delta > 0:
            rise += delta
            where.append(ds.id)
    return rise, where


@dataclass
class NotificationTracker:
    """Diffs each status against the previous one; notifies once per transition.

    - online -> offline: the reason and what to do (the connectivity message); a later change
      of reason is notified again only when the new one needs the user (auth, upgrade);
    - offline -> online: how many records went out since, counted from the drop of unsent
      records, once the backlog drained or after ``CATCH_UP_WINDOW_S``;
    - error / conflict counts rising: how many, in which datasets.

    The first status only sets the baseline. ``None`` (node unreachable) keeps the last known
    status, so a node restart does not replay notifications.
    """

    lang: Lang
    previous: NodeStatus | None = None
    _offline_unsent: int = 0
    _catch_up: _CatchUp | None = field(default=None, repr=False)

    def observe(self, status: NodeStatus | None, now: float) -> list[Notification]:
        if status is None:
            return []
        old, self.previous = self.previous, status
        if old is None:
            self._offline_unsent = 0 if status.is_online else _unsent(status)
            return []
        notes = self._connectivity(old, status, now)
        notes += self._failures(old, status)
        return notes + self.tick(now)

    def tick(self, now: float) -> list[Notification]:
        """Call now and then: fires a "back online" note whose window ran out."""
        status, catch_up = self.previous, self._catch_up
        if status is None or catch_up is None or not status.is_online:
            return []
        left = _unsent(status)
        if left and now - catch_up.since < CATCH_UP_WINDOW_S:
            return []
        self._catch_up = None
        sent = max(0, catch_up.unsent_before - left)
        body = (text("note.online.sent", self.lang, count=sent) if sent
                else text("note.online.nothing", self.lang))
        return [Notification(NoteKind.BACK_ONLINE, text("note.online.title", self.lang), body)]

    def _connectivity(self, old: NodeStatus, new: NodeStatus, now: float) -> list[Notification]:
        if old.is_online and not new.is_online:
            self._catch_up = None
            self._offline_unsent = _unsent(new)
            return [self._offline_note(new)]
        if not old.is_online and not new.is_online:
            self._offline_unsent = max(self._offline_unsent, _unsent(new))
            if new.connectivity != old.connectivity and new.connectivity in ACTION_NEEDED:
                return [self._offline_note(new)]
            return []
        if not old.is_online and new.is_online:
            before = max(self._offline_unsent, _unsent(old))
            self._catch_up = _CatchUp(unsent_before=before, since=now)
        return []

    def _offline_note(self, status: NodeStatus) -> Notification:
        label = state_label(derive_state(status), self.lang)
        return Notification(
            NoteKind.WENT_OFFLINE,
            text("note.offline.title", self.lang, state=label),
            status.message_in(self.lang),
        )

    def _failures(self, old: NodeStatus, new: NodeStatus) -> list[Notification]:
        notes = []
        for field_name, kind in (("error", NoteKind.ERRORS), ("conflict", NoteKind.CONFLICTS)):
            rise, where = _rises(old, new, field_name)
            if rise:
                notes.append(Notification(
                    kind,
                    text(f"note.{kind.value}.title", self.lang),
                    text(f"note.{kind.value}.body", self.lang, count=rise,
                         datasets=", ".join(where)),
                ))
        return notes
