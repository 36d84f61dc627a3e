"""The self-check (S11 ★): the node runs data maintenance by itself, so no office has to run
"Bảo trì dữ liệu" by hand.

Every ``[selfcheck] interval_s`` it compares each connected dataset's recent period (the last
``recent_days`` days, catalogs whole) with the cloud the way ``officesync maintain`` does
(:class:`agent.repair.Repair`) and repairs what it can; once a night (``full_at``, a local
hour) or every ``full_interval_s`` it checks the whole dataset. Low priority: small pages
(``page_size``) with a pause between them, every write a short transaction of its own on the
dataset's writer, never while the hub cannot be reached or the user works offline, never while
a job runs on that dataset (it stops between pages when a user's job arrives, and leaves its
result as it was).

The result of each dataset is kept in ``node.db`` (setting ``selfcheck:<dataset>``) and shown
in the control ``/status`` (``datasets[].selfcheck``), the LAN sync summary, ``officesync
status``, the tray and the dashboard: "Dữ liệu khớp với Cloud đến 10:00".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.cloud.client import HubError
from agent.events import JobEvent
from agent.jobs import hub_client
from agent.repair import FIRST_DAY, LAST_DAY, Repair
from protocol.connectivity import Connectivity
from protocol.i18n import Text, local_clock
from protocol.local import SelfCheck, SelfCheckState

if TYPE_CHECKING:
    from agent.app import NodeContext
    from agent.store.node import NodeDB

log = logging.getLogger("officesync.selfcheck")

SETTING = "selfcheck:{dataset}"
LAST_FULL = "selfcheck_full:{dataset}"
PAUSE_S = 0.05  # between two pages of the hub's records
KIND = "selfcheck"


def result_message(state: SelfCheckState, through: str | None, fixed: int = 0,
                   conflicts: int = 0) -> Text:
    """The line the tray, the dashboard and ``officesync status`` show for a dataset."""
    if state is SelfCheckState.NEVER or through is None:
        return Text("Chưa tự kiểm tra dữ liệu với Cloud", "Not checked against the cloud yet")
    at = local_clock(through)
    if state is SelfCheckState.OK:
        return Text(f"Dữ liệu khớp với Cloud đến {at}", f"Data matches the cloud as of {at}")
    if state is SelfCheckState.REPAIRED:
        return Text(f"Đã tự sửa {fixed} bản ghi lệch với Cloud; dữ liệu khớp với Cloud đến {at}",
                    f"Repaired {fixed} record(s) that differed from the cloud; data matches "
                    f"the cloud as of {at}")
    return Text(f"Kiểm tra lúc {at}: {conflicts} bản ghi xung đột với Cloud cần người xử lý "
                "(xem danh sách lỗi đồng bộ)",
                f"Checked at {at}: {conflicts} record(s) in conflict with the cloud need a "
                "person (see the sync issues)")


async def read_result(node_db: NodeDB, dataset: str) -> SelfCheck:
    """The last self-check of ``dataset`` (state ``never`` before the first)."""
    raw = await node_db.get_setting(SETTING.format(dataset=dataset))
    if not isinstance(raw, dict):
        return SelfCheck(message=result_message(SelfCheckState.NEVER, None))
    return SelfCheck.model_validate(raw)


async def recent_results(node_db: NodeDB, datasets: list[str]) -> dict[str, dict[str, Any]]:
    """Each dataset's last self-check with its report (for the diagnostics bundle)."""
    found: dict[str, dict[str, Any]] = {}
    for ds in datasets:
        raw = await node_db.get_setting(SETTING.format(dataset=ds))
        found[ds] = raw if isinstance(raw, dict) else {"state": SelfCheckState.NEVER.value}
    return found


class SelfChecker:
    """The supervised loop of the self-check on one node."""

    def __init__(self, ctx: NodeContext,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.ctx = ctx
        self._now: Callable[[], dt.datetime] = clock or (lambda: dt.datetime.now(dt.UTC))

    async def run(self) -> None:
        await asyncio.sleep(self.ctx.config.selfcheck.start_delay_s)
        while True:
            section = self.ctx.config.selfcheck
            if section.enabled:
                for store in self.ctx.stores.connected():
                    await self.check(store.dataset_id, full=await self._full_due(
                        store.dataset_id))
            await asyncio.sleep(self.ctx.config.selfcheck.interval_s)

    async def _full_due(self, dataset: str) -> bool:
        section = self.ctx.config.selfcheck
        last = await self.ctx.node_db.get_setting(LAST_FULL.format(dataset=dataset))
        now = self._now()
        if last is None:
            return False  # the first checks cover the recent period; the night brings the rest
        elapsed = (now - dt.datetime.fromisoformat(last)).total_seconds()
        if section.full_interval_s is not None:
            return elapsed >= section.full_interval_s
        if section.full_at is None:
            return False
        local = now.astimezone()
        return local.hour == section.full_at and elapsed >= 3600

    def _can_run(self, dataset: str) -> bool:
        sync = self.ctx.sync
        jobs = self.ctx.jobs
        if hub_client(sync) is None or sync.connectivity is not Connectivity.ONLINE:
            return False  # not while the hub is down or the user works offline
        return jobs is None or not (jobs.busy(dataset) or jobs.lock(dataset).locked())

    async def check(self, dataset: str, *, full: bool = False) -> SelfCheck | None:
        """One check of ``dataset`` now; None when it could not run (hub down, a job)."""
        if not self._can_run(dataset):
            return None
        jobs = self.ctx.jobs
        client = hub_client(self.ctx.sync)
        assert client is not None
        section = self.ctx.config.selfcheck
        started = self._now()
        if full:
            first, last = FIRST_DAY, LAST_DAY
        else:
            today = started.astimezone().date()
            first = (today - dt.timedelta(days=section.recent_days - 1)).isoformat()
            last = (today + dt.timedelta(days=1)).isoformat()  # a clock a little ahead
        store = self.ctx.stores.get(dataset)
        def busy() -> bool:
            return jobs is not None and jobs.busy(dataset)

        repair = Repair(store, client, page=section.page_size, pause=PAUSE_S, stop=busy)
        lock = jobs.lock(dataset) if jobs is not None else asyncio.Lock()
        async with lock:
            try:
                await repair.maintain(first, last)
            except HubError as err:
                log.info("self-check of %s stopped: %s", dataset, err)
                return None
        if busy():
            return None  # a user's job came: it does the work, the last result stays
        if repair.requeued:
            try:
                await self.ctx.sync.sync_now(dataset)
            except Exception:
                log.debug("self-check of %s: sync now refused", dataset, exc_info=True)
        tally = repair.tally
        state = (SelfCheckState.NEEDS_PERSON if tally.needs_person
                 else SelfCheckState.REPAIRED if tally.fixed else SelfCheckState.OK)
        through = started.isoformat(timespec="seconds")
        result = SelfCheck(state=state, checked_at=self._now().isoformat(timespec="seconds"),
                           through=through, full=full,
                           message=result_message(state, through, tally.fixed,
                                                  tally.needs_person))
        report = tally.report()
        await self.ctx.node_db.set_setting(SETTING.format(dataset=dataset), {
            **result.model_dump(mode="json"), "range": [first, last], "report": report})
        if full or await self.ctx.node_db.get_setting(LAST_FULL.format(dataset=dataset)) is None:
            await self.ctx.node_db.set_setting(LAST_FULL.format(dataset=dataset), through)
        self.ctx.bus.publish(JobEvent(dataset=dataset, job={
            "kind": KIND, "state": state.value, "report": report}))
        if tally.fixed or tally.needs_person:
            log.warning("self-check of %s: %s", dataset, report["summary"]["en"])
        return result
