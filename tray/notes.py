"""The tray's notifications, pure: each status diffed against the previous one, one note per
transition (never a stream). Tested in ``tests/tray/test_notes.py``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from protocol.connectivity import Connectivity
from protocol.i18n import Lang
from protocol.local import NodeStatus
from tray.texts import text
from tray.viewmodel import PairingCode, derive_state, state_label, sync_problem

#: Offline reasons that need the user to act; changing to one of them is notified again.
ACTION_NEEDED: Final = frozenset({Connectivity.AUTH_FAILED, Connectivity.UPGRADE_REQUIRED})


class NoteKind(StrEnum):
    WENT_OFFLINE = "went_offline"
    BACK_ONLINE = "back_online"
    ERRORS = "errors"
    CONFLICTS = "conflicts"
    DATASET_REFUSED = "dataset_refused"
    DATASET_OK = "dataset_ok"
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
    synced_before: int
    since: float


def _unsent(status: NodeStatus) -> int:
    """Records not yet on the cloud: waiting, in flight, or stuck."""
    totals = status.totals
    return totals.outstanding + totals.failed


def _sync_keys(status: NodeStatus) -> dict[str, tuple[str, str | None]]:
    return {d.id: (d.sync.state.value, d.sync.code) for d in status.datasets}


def dataset_notes(old: NodeStatus | None, new: NodeStatus, lang: Lang) -> list[Notification]:
    """A dataset turning refused or failing (or to another code): what is wrong and what to
    do; one turning back to ok while online: that it syncs again. ``old`` None: the tray just
    started, and a dataset already refused is said once (nothing else would tell)."""
    before = _sync_keys(old) if old is not None else {}
    notes = []
    for ds in new.datasets:
        key, was = (ds.sync.state.value, ds.sync.code), before.get(ds.id, ("ok", None))
        if key == was:
            continue
        if ds.sync.troubled:
            notes.append(Notification(
                NoteKind.DATASET_REFUSED,
                text(f"note.dataset_{ds.sync.state.value}.title", lang, id=ds.id),
                sync_problem(ds, lang),
            ))
        elif new.is_online and old is not None:
            notes.append(Notification(
                NoteKind.DATASET_OK,
                text("note.dataset_ok.title", lang, id=ds.id),
                text("note.dataset_ok.body", lang, id=ds.id),
            ))
    return notes


def _rises(old: NodeStatus, new: NodeStatus, field_name: str) -> tuple[int, list[str]]:
    before = {d.id: getattr(d.tally, field_name) for d in old.datasets}
    rise, where = 0, []
    for ds in new.datasets:
        delta = getattr(ds.tally, field_name) - before.get(ds.id, 0)
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
    - error / conflict counts rising: how many, in which datasets;
    - a dataset refused by the hub or failing (and back to ok): see :func:`dataset_notes`.

    The first status only sets the baseline (except for a dataset already refused). ``None``
    (node unreachable) keeps the last known status, so a node restart does not replay
    notifications.
    """

    lang: Lang
    previous: NodeStatus | None = None
    _offline_unsent: int = 0
    _offline_synced: int = 0
    _catch_up: _CatchUp | None = field(default=None, repr=False)

    def observe(self, status: NodeStatus | None, now: float) -> list[Notification]:
        if status is None:
            return []
        old, self.previous = self.previous, status
        if old is None:
            self._offline_unsent = 0 if status.is_online else _unsent(status)
            self._offline_synced = status.totals.synced
            return dataset_notes(None, status, self.lang)
        notes = self._connectivity(old, status, now)
        notes += dataset_notes(old, status, self.lang)
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
        # Two lower bounds: the drop of unsent records, and the rise of synced ones (that one
        # holds even when records written offline were never seen waiting by the tray).
        sent = max(0, catch_up.unsent_before - left,
                   status.totals.synced - catch_up.synced_before)
        body = (text("note.online.sent", self.lang, count=sent) if sent
                else text("note.online.nothing", self.lang))
        return [Notification(NoteKind.BACK_ONLINE, text("note.online.title", self.lang), body)]

    def _connectivity(self, old: NodeStatus, new: NodeStatus, now: float) -> list[Notification]:
        if old.is_online and not new.is_online:
            self._catch_up = None
            self._offline_unsent = _unsent(new)
            self._offline_synced = new.totals.synced
            return [self._offline_note(new)]
        if not old.is_online and not new.is_online:
            self._offline_unsent = max(self._offline_unsent, _unsent(new))
            if new.connectivity != old.connectivity and new.connectivity in ACTION_NEEDED:
                return [self._offline_note(new)]
            return []
        if not old.is_online and new.is_online:
            before = max(self._offline_unsent, _unsent(old))
            self._catch_up = _CatchUp(unsent_before=before,
                                      synced_before=self._offline_synced, since=now)
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
