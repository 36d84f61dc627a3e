"""Live configuration: notice edits of the config file and hand the new, validated config to
the node on its event loop.

Editors and tools save in two ways: in place (modify/close-write events on the file) or
atomically (write a temp file, then rename it onto the config: a *move* whose destination is
the file). So the parent directory is watched and an event matches when its source *or*
destination is the config file. Bursts (one save is often several events) are debounced; the
reload then runs on the loop: ``load_config`` validates, an invalid file is refused with a
logged reason and the running config stays, a valid different one goes to ``on_change``.

``diff_config`` is pure: it says which changes the node applies live and which need a restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.config import Config, ConfigError, load_config
from protocol.i18n import Text

log = logging.getLogger("officesync.config")

# At stop, a reload in progress may finish (it may be swapping the sync engine) this long.
STOP_WAIT_S = 3.0

OnChange = Callable[[Config, Config], Awaitable[None]]
OnRefused = Callable[[str], Awaitable[None]]

# Dotted keys (or section prefixes ending in ".") the node applies without a restart.
LIVE_KEYS: tuple[str, ...] = (
    "cloud.",
    "node.language",
    "node.name",
    "log.level",
    "datasets",
    "discovery.enabled",
    "selfcheck.",  # read by the self-check at each round
)


@dataclass(frozen=True)
class ConfigDiff:
    """What changed between two configs, split by how it can be applied."""

    live: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    datasets_added: tuple[str, ...] = ()
    datasets_removed: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.live or self.restart)

    @property
    def needs_restart(self) -> bool:
        return bool(self.restart)

    def messages(self) -> dict[str, str]:
        """``{"vi", "en"}`` notice for ``status`` when some change waits for a restart."""
        if not self.restart:
            return {}
        keys = ", ".join(self.restart)
        return Text(f"Cần khởi động lại dịch vụ để áp dụng thay đổi cấu hình: {keys}",
                    f"Restart the service to apply these configuration changes: {keys}",
                    ).as_dict()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(_flatten(inner, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): value}


def _is_live(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in LIVE_KEYS)


def _dump(config: Config) -> dict[str, Any]:
    data = config.model_dump(mode="json")
    data.pop("datasets", None)
    data["node"]["data_dir"] = str(config.data_dir)  # relative paths resolved against the file
    return data


def diff_config(old: Config, new: Config) -> ConfigDiff:
    """Which keys changed, which of them apply live, which need a restart."""
    before, after = _flatten(_dump(old)), _flatten(_dump(new))
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    added = tuple(d for d in new.dataset_ids if d not in old.dataset_ids)
    removed = tuple(d for d in old.dataset_ids if d not in new.dataset_ids)
    if added or removed:
        changed.append("datasets")
    return ConfigDiff(
        live=tuple(k for k in changed if _is_live(k)),
        restart=tuple(k for k in changed if not _is_live(k)),
        datasets_added=added,
        datasets_removed=removed,
    )


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: matches the path and pokes the loop, nothing else."""

    def __init__(self, target: Path, poke: Callable[[], None]) -> None:
        self._target = os.path.normcase(str(target))
        self._poke = poke

    def _matches(self, raw: bytes | str) -> bool:
        path = os.fsdecode(raw) if raw else ""
        return bool(path) and os.path.normcase(os.path.abspath(path)) == self._target

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                return
            if self._matches(event.src_path) or self._matches(getattr(event, "dest_path", "")):
                self._poke()
        except Exception:  # the observer thread must survive anything
            log.exception("config watcher: event handling failed")


class ConfigWatcher:
    """Watches ``path``; calls ``await on_change(old, new)`` on the loop after a valid edit.

    ``on_refused(reason)`` (optional) hears about an edit that was refused as invalid.
    """

    def __init__(
        self,
        path: Path,
        current: Config,
        on_change: OnChange,
        *,
        debounce_s: float = 0.3,
        on_refused: OnRefused | None = None,
    ) -> None:
        self.path = Path(path).resolve()
        self._current = current
        self._on_change = on_change
        self._on_refused = on_refused
        self._debounce_s = debounce_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: BaseObserver | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reload_task: asyncio.Task[bool] | None = None
        self._again = False
        self._stopping = False
        self.last_error: str | None = None

    @property
    def current(self) -> Config:
        return self._current

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        observer = Observer()
        observer.schedule(_Handler(self.path, self._poke_threadsafe), str(self.path.parent))
        observer.daemon = True
        observer.start()
        self._observer = observer

    async def stop(self) -> None:
        """No reload starts from here on; one in progress gets ``STOP_WAIT_S`` to finish
        (cancelling it in the middle of swapping the sync engine could leave the old one
        running), then is cancelled."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._observer is not None:
            observer, self._observer = self._observer, None
            observer.unschedule_all()
            observer.stop()
            await asyncio.to_thread(observer.join, 5)
        task, self._reload_task = self._reload_task, None
        if task is not None and not task.done():
            await asyncio.wait([task], timeout=STOP_WAIT_S)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _poke_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._poke)

    def _poke(self) -> None:
        """(Re)start the debounce timer; a burst of events ends in one reload."""
        if self._observer is None:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._debounce_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._stopping:
            return
        if self._reload_task is not None and not self._reload_task.done():
            self._again = True  # an edit landed while reloading: reload once more after
            return
        self._reload_task = asyncio.get_running_loop().create_task(self.reload())

    async def reload(self) -> bool:
        """Load and validate the file now; True when a new config was handed over."""
        while True:
            self._again = False
            applied = await self._reload_once()
            if not self._again or self._stopping:
                return applied

    async def _reload_once(self) -> bool:
        try:
            new = await asyncio.to_thread(load_config, self.path)
        except ConfigError as err:
            self.last_error = str(err)
            log.warning("config change refused, keeping the running config: %s", err)
            if self._on_refused is not None:
                await self._on_refused(str(err))
            return False
        self.last_error = None
        old = self._current
        if new.model_dump(mode="json") == old.model_dump(mode="json"):
            return False
        self._current = new
        log.info("config changed: %s", diff_config(old, new))
        try:
            await self._on_change(old, new)
        except Exception:
            log.exception("applying the new config failed")
        return True


__all__ = ["LIVE_KEYS", "ConfigDiff", "ConfigWatcher", "diff_config"]
