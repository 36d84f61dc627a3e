"""The dashboard as the office's sync console, in a real browser (Playwright on Debian's
chromium) against a real hub and two real nodes (processes):

- the Work-online switch turns office A offline and back online from the page;
- while A is offline both offices edit the same fields of one customer and both create the
  code KH777: back online, the page shows the conflict side by side and settles it with a
  per-field merge (mine for one field, the cloud's for the other), and links the duplicate
  to the cloud's record;
- "Sync now" says what happened;
- the record view shows the customer's history: both offices' versions, with workstations;
- A's node stops: the page says so at once and greys its data; it recovers by itself.

``OFFICESYNC_DASHBOARD_SHOTS=docs/img`` also saves the screenshots used by docs/dashboard.md
(dashboard-overview.png, dashboard-conflict.png, dashboard-record.png, 1280 px, and the same
at 400 px with ``-narrow``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually
from workstation.client import WorkstationClient

from .hub_procs import HubProcess, hub_with
from .test_sync_e2e import (
    DS,
    Office,
    control,
    status,
    two_offices,
    wait_online,
    workstation,
)

pytestmark = pytest.mark.e2e
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
UI_TIMEOUT_MS = 30_000
SHOTS_ENV = "OFFICESYNC_DASHBOARD_SHOTS"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS)


@pytest.fixture
def offices(tmp_path: Path, hub: HubProcess) -> Iterator[tuple[Office, Office]]:
    yield from two_offices(tmp_path, hub)


async def _synced(ws: WorkstationClient, collection: str, id: str) -> bool:
    try:
        got = await ws.get(DS, collection, id)
    except Exception:
        return False
    return got.record.sync.state == "synced"


async def _shot(page: Any, name: str) -> None:
    target = os.environ.get(SHOTS_ENV)
    if not target:
        return
    await asyncio.to_thread(Path(target).mkdir, parents=True, exist_ok=True)
    await page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)
    await page.set_viewport_size({"width": 400, "height": 860})
    await page.screenshot(path=str(Path(target) / f"{name}-narrow.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
async def test_sync_console_in_a_real_browser(offices: tuple[Office, Office]) -> None:
    from playwright.async_api import async_playwright, expect

    a, b = offices
    ws_a = await workstation(a.node, "Kế toán A")
    ws_b = await workstation(b.node, "Thu ngân B")
    try:
        await wait_online(a.node)
        await wait_online(b.node)
        made = await ws_a.create(DS, "customers", {"code": "KH001", "name": "Công ty Mai",
                                                   "phone": "0240000000"})
        cid = made.record.id
        await eventually(lambda: _synced(ws_a, "customers", cid), 30)
        await eventually(lambda: _synced(ws_b, "customers", cid), 30)

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                await page.goto(a.node.lan_url + "/")
                await page.fill("#pair-code", control(a.node, "POST", "/pairing-code")["code"])
                await page.fill("#pair-name", "Kế toán trưởng")
                await page.click("#pair-submit")
                await expect(page.locator("#live")).to_have_attribute("data-state", "on")
                switch = page.locator("#online-switch")
                await expect(switch).to_be_checked()
                await expect(page.locator("#conn-dot")).to_have_attribute("data-state", "online")

                # Work offline from the page: the node's own toggle (the tray's) follows.
                await switch.click()
                await expect(page.locator("#conn-dot")).to_have_attribute(
                    "data-state", "offline_by_user")
                await expect(switch).not_to_be_checked()
                assert status(a.node)["online"] is False
                await page.click("#sync-now")  # offline by choice: it says so and why
                await expect(page.locator("#sync-result")).to_contain_text(
                    "Chưa đồng bộ được")
                await expect(page.locator("#sync-result")).to_contain_text("Làm việc online")

                # Meanwhile both offices change the same fields and create the same code.
                mine = await ws_a.get(DS, "customers", cid)
                await ws_a.update(DS, "customers", cid, {**mine.record.data, "name": "Mai (A)",
                                                         "phone": "0241111111"}, mine.etag)
                dup = await ws_a.create(DS, "customers", {"code": "KH777", "name": "Khách A"})
                theirs = await ws_b.get(DS, "customers", cid)
                await ws_b.update(DS, "customers", cid, {**theirs.record.data,
                                                         "name": "Mai (B)",
                                                         "phone": "0242222222"}, theirs.etag)
                other = await ws_b.create(DS, "customers", {"code": "KH777", "name": "Khách B",
                                                            "phone": "0909"})
                await eventually(lambda: _synced(ws_b, "customers", cid), 30)
                await eventually(lambda: _synced(ws_b, "customers", other.record.id), 30)

                # Back online from the page: the conflict and the duplicate come up.
                await switch.click()
                await expect(switch).to_be_checked()
                await expect(page.locator("#conn-dot")).to_have_attribute("data-state", "online")
                assert status(a.node)["online"] is True
                conflict = page.locator(f'#issues-body tr[data-id="{cid}"]')
                await expect(conflict).to_have_attribute("data-state", "conflict")
                duplicate = page.locator(f'#issues-body tr[data-id="{dup.record.id}"]')
                await expect(duplicate).to_contain_text("DUPLICATE_KEY")

                # The conflict side by side: the clashing fields highlighted, one choice each.
                await conflict.locator("button.settle-open").click()
                panel = page.locator("#settle")
                await expect(panel).to_contain_text("Mai (A)")
                await expect(panel).to_contain_text("Mai (B)")
                name_row = panel.locator('tr[data-field="name"]')
                await expect(name_row).to_have_class("differs clash")
                await expect(panel.locator('tr[data-field="code"]')).not_to_have_class(
                    "differs clash")
                await expect(name_row.locator("th")).to_have_text("Tên khách hàng")
                await panel.locator('input[name="choice-phone"][value="cloud"]').check()
                await _shot(page, "dashboard-conflict")
                await panel.locator("button.resolve-merge").click()
                await expect(conflict).to_have_count(0)

                async def merged_at_b() -> bool:
                    got = await ws_b.get(DS, "customers", cid)
                    return bool(got.record.data["name"] == "Mai (A)"
                                and got.record.data["phone"] == "0242222222")

                await eventually(merged_at_b, 30)

                # The duplicate beside the cloud's record; it is the same customer: link it.
                await duplicate.locator("button.settle-open").click()
                await expect(panel).to_contain_text("Khách B")
                await expect(panel).to_contain_text("Khách A")
                await panel.locator("button.resolve-link_existing").click()
                await expect(page.locator("#issues-body tr")).to_have_count(0)
                await expect(page.locator("#issues-empty")).to_be_visible()

                # Sync now says what happened.
                await page.click("#sync-now")
                await expect(page.locator("#sync-result")).to_have_attribute("data-state", "done")
                await expect(page.locator("#sync-result")).to_contain_text(
                    "đồng bộ")
                await _shot(page, "dashboard-overview")

                # The record view: its fields and history, both offices, the workstations.
                await page.click('#collections [data-collection="customers"]')
                await page.click(f'#records-body tr[data-id="{cid}"] a.record-link')
                await expect(page.locator("#record-heading")).to_contain_text("KH001")
                await expect(page.locator('#record-fields tr[data-field="name"]')).to_contain_text(
                    "Mai (A)")
                rows = page.locator("#history-body tr")
                await expect(rows).to_have_count(3)  # created at A, edited at B, merged at A
                await expect(rows.nth(0).locator(".office")).to_have_text("office-a")
                await expect(rows.nth(0).locator(".workstation")).to_have_text("Kế toán trưởng")
                await expect(rows.nth(0).locator(".changed")).to_have_text("Tên khách hàng")
                await expect(rows.nth(1).locator(".office")).to_have_text("office-b")
                await expect(rows.nth(1).locator(".workstation")).to_have_text("Thu ngân B")
                await expect(rows.nth(1).locator(".changed")).to_contain_text("Điện thoại")
                await expect(rows.nth(2).locator(".workstation")).to_have_text("Kế toán A")
                await _shot(page, "dashboard-record")
                assert f"#/record/{DS}/customers/{cid}" in page.url
                await page.click("#record-back")
                await expect(page.locator("#issues-card")).to_be_visible()

                # The node stops: the banner at once, the data greyed; back by itself.
                a.node.kill()
                await expect(page.locator("#conn-lost")).to_be_visible()
                await expect(page.locator("#main-view")).to_have_class("stale")
                await expect(page.locator("#stale-note")).to_be_visible()
                a.node.start()
                await expect(page.locator("#conn-lost")).to_be_hidden()
                await expect(page.locator("#main-view")).not_to_have_class("stale")
                await expect(page.locator("#live")).to_have_attribute("data-state", "on")
            finally:
                await browser.close()
    finally:
        await ws_a.close()
        await ws_b.close()
