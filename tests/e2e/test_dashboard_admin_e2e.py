"""The dashboard's Workstations, Datasets and Tools screens in a real browser (Playwright on
Debian's /usr/bin/chromium, headless) against a real node and hub (processes): pairing by the
page with the token only in an HttpOnly cookie, a pairing code with its QR code, revoking a
workstation (its next request refused), disconnecting a dataset after seeing its pending
count and connecting it again, maintenance with its report, refresh, diagnostics download,
CSRF refusals, and the layout at 400 px.

``OFFICESYNC_DASHBOARD_SCREENSHOTS=docs/img`` also writes dashboard-workstations.png,
dashboard-tools.png (1280 px) and dashboard-narrow.png (400 px) for docs/dashboard.md.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually
from tests.agent.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from workstation.client import WorkstationError

from .hub_procs import HubProcess, enroll_node, hub_with
from .procs import NO_KEYRING, NodeProcess, write_node_config
from .test_repair_e2e import DAYS, books, synced
from .test_sync_e2e import FAST_CLOUD, control, status, workstation

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium "
    "(scripts/system-deps.sh installs it)")]
DS, DS2 = "cty-abc", "cty-xyz"
SHOTS_ENV = "OFFICESYNC_DASHBOARD_SCREENSHOTS"
UI_TIMEOUT_MS = 15_000


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    yield from hub_with(tmp_path, DS, DS2)


@pytest.fixture
def node(tmp_path: Path, hub: HubProcess) -> Iterator[NodeProcess]:
    config = write_node_config(tmp_path, name="van-phong", datasets=[DS, DS2],
                               cloud_url=hub.url, cloud=FAST_CLOUD,
                               selfcheck={"enabled": False})
    enroll_node(config, hub, hub.enroll_code(DS, DS2), NO_KEYRING)
    proc = NodeProcess(config, env=NO_KEYRING)
    proc.start()
    yield proc
    proc.kill()


def connected(node: NodeProcess, ds: str) -> bool:
    return any(d["id"] == ds and d["connected"] for d in status(node)["datasets"])


async def shot(page: Any, name: str) -> None:
    target = os.environ.get(SHOTS_ENV)
    if target:
        await asyncio.to_thread(Path(target).mkdir, parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(target) / name), full_page=True)


async def no_horizontal_overflow(page: Any) -> None:
    widths = await page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"the page scrolls sideways at 400 px: {widths}"


async def test_workstations_datasets_and_tools_in_a_browser(
    node: NodeProcess, hub: HubProcess
) -> None:
    from playwright.async_api import async_playwright, expect

    ws = await workstation(node, "Máy kế toán 1")
    try:
        await books(ws)
        await synced(node)
        control(node, "PUT", "/online", {"online": False})  # DS2's new record stays pending
        await ws.create(DS2, "customers", {"code": "KH900", "name": "Công ty chờ"})

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM),
                                               args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1280, "height": 900},
                                                    accept_downloads=True)
                page = await context.new_page()
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                await page.goto(node.lan_url + "/")

                # Pair through the form: the session is an HttpOnly SameSite=Strict cookie,
                # nowhere in the page, its script's storage or document.cookie.
                await page.fill("#pair-code", control(node, "POST", "/pairing-code")["code"])
                await page.fill("#pair-name", "Quản trị")
                await page.click("#pair-submit")
                await expect(page.locator("#main-view")).to_be_visible()
                cookie = next(c for c in await context.cookies() if c["name"] ==
                              "officesync_session")
                assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
                token = cookie["value"]
                assert token not in await page.content()
                assert token not in await page.evaluate(
                    "JSON.stringify(Object.assign({}, localStorage)) + document.cookie")

                # CSRF, from the real browser: a change without the token is refused ...
                refused = await page.evaluate("""async (ds) => {
                    const r = await fetch('/api/v1/datasets/' + ds + '/disconnect',
                                          {method: 'POST'});
                    return [r.status, (await r.json()).error.code]; }""", DS2)
                assert refused == [403, "CSRF_REJECTED"]
                # ... and so is one from another origin (localhost is not 127.0.0.1)
                evil = await context.new_page()
                await evil.goto(node.lan_url.replace("127.0.0.1", "localhost") + "/")
                await evil.evaluate("""async (url) => {
                    try { await fetch(url, {method: 'POST', mode: 'no-cors',
                                            credentials: 'include'}); } catch (e) {} }""",
                                    node.lan_url + f"/api/v1/datasets/{DS2}/disconnect")
                await evil.close()
                assert connected(node, DS2)

                # Workstations: a pairing code with its countdown and QR code; the list.
                await page.click('.view-tab[data-view="workstations"]')
                await page.click("#pairing-new")
                await expect(page.locator("#pairing-code")).to_have_text(
                    re.compile(r"^[2-9A-Z]{8}$"))
                await expect(page.locator("#pairing-expiry")).to_contain_text("Hết hạn sau")
                qr = await page.locator("#pairing-qr").get_attribute("src")
                assert qr is not None and qr.startswith("data:image/svg+xml")
                assert "/?pair=" in (await page.locator("#pairing-link").inner_text())
                rows = page.locator("#ws-body tr")
                await expect(rows).to_have_count(2)
                other = page.locator("#ws-body tr", has_text="Máy kế toán 1")
                await expect(other).to_contain_text("127.0.0.1")
                await expect(page.locator("#ws-body tr", has_text="Quản trị")).to_contain_text(
                    "trình duyệt này")
                await shot(page, "dashboard-workstations.png")

                # Revoke it (the dialog asks first: Esc cancels, nothing happens; then
                # confirmed); its next request is refused.
                await other.locator(".ws-revoke").click()
                await expect(page.locator("#confirm")).to_be_visible()
                await page.keyboard.press("Escape")
                await expect(page.locator("#confirm")).to_be_hidden()
                await expect(rows).to_have_count(2)
                await other.locator(".ws-revoke").click()
                await expect(page.locator("#confirm")).to_be_visible()
                await expect(page.locator("#confirm-text")).to_contain_text("Máy kế toán 1")
                await page.click("#confirm-ok")
                await expect(rows).to_have_count(1)
                with pytest.raises(WorkstationError) as refusal:
                    await ws.list_records(DS, "customers")
                assert refusal.value.status == 401

                # Datasets: the pending count before disconnecting, then connect again.
                await page.click('.view-tab[data-view="datasets"]')
                row2 = page.locator(f'#ds-body tr[data-id="{DS2}"]')
                await expect(row2.locator(".ds-pending")).to_have_text("1")
                await row2.locator(".ds-disconnect").click()
                await expect(page.locator("#confirm-text")).to_contain_text(
                    f"1 bản ghi của {DS2} chưa được đồng bộ")
                await page.click("#confirm-ok")
                await expect(row2).to_have_attribute("data-connected", "false")
                await expect(page.locator("#ds-result")).to_be_visible()
                assert not connected(node, DS2)
                await row2.locator(".ds-connect").click()
                await expect(row2).to_have_attribute("data-connected", "true")
                assert connected(node, DS2)
                control(node, "PUT", "/online", {"online": True})

                async def online() -> bool:
                    return bool(status(node)["connectivity"] == "online")

                await eventually(online, 30)

                # Tools (opened by keyboard: Space on the focused tab): maintenance with live
                # progress and its report; refresh; diagnostics.
                await page.focus('.view-tab[data-view="tools"]')
                await page.keyboard.press("Space")
                await expect(page.locator('.view[data-view="tools"]')).to_be_visible()
                await page.fill("#maint-from", DAYS[0])
                await page.fill("#maint-to", DAYS[-1])
                await page.click('#maint-form button[type="submit"]')
                out = page.locator("#maint-out")
                await expect(out).to_have_attribute("data-state", "done")
                await expect(out.locator(".tool-summary")).not_to_be_empty()
                await expect(out.locator(".report-counts")).to_contain_text("Đã kiểm tra")

                await page.select_option("#refresh-collection", "customers")
                await page.fill("#refresh-record", "KH001")
                await page.press("#refresh-record", "Enter")  # the keyboard submits
                await expect(page.locator("#refresh-out")).to_have_attribute("data-state",
                                                                             "done")
                await expect(page.locator("#refresh-out .tool-summary")).not_to_be_empty()

                async with page.expect_download() as download:
                    await page.click("#diag-button")
                assert (await download.value).suggested_filename.endswith(".zip")
                await expect(page.locator("#diag-out")).to_contain_text("Đã tải")
                await shot(page, "dashboard-tools.png")

                # 400 px: no screen scrolls the page sideways.
                await page.set_viewport_size({"width": 400, "height": 860})
                for view in ("overview", "workstations", "datasets", "tools"):
                    await page.click(f'.view-tab[data-view="{view}"]')
                    await expect(page.locator(f'.view[data-view="{view}"]')).to_be_visible()
                    await no_horizontal_overflow(page)
                await page.click('.view-tab[data-view="overview"]')
                await shot(page, "dashboard-narrow.png")
            finally:
                await browser.close()
    finally:
        await ws.close()
