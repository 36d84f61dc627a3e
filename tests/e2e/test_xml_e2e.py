"""XML export/import and the inbox drop folder with real processes (S3, docs/xml.md): a
workstation's pending work exported from one dataset and imported into another with duplicates
skipped or renumbered, through the CLI and the LAN API; the inbox imports a file dropped while
the node was down and one dropped while it runs, refuses a malformed one to failed/ with its
report, and a file dropped twice doubles nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workstation.client import WorkstationClient

from .hub_procs import HubProcess, enroll_node
from .procs import NO_KEYRING, NodeProcess, free_port, run_cli, wait_until, write_node_config

pytestmark = pytest.mark.e2e
SRC, DST = "cty-abc", "cty-xyz"


def control(node: NodeProcess, method: str, path: str) -> Any:
    request = urllib.request.Request(
        f"{node.control_url}/control/v1{path}", method=method,
        headers={"Authorization": f"Bearer {node.control_token()}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def lan(node: NodeProcess, token: str, method: str, path: str, body: bytes | None = None,
        ) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        f"{node.lan_url}/api/v1{path}", method=method, data=body,
        headers={"Authorization": f"Bearer {token}", "Accept-Language": "en",
                 "Content-Type": "application/xml"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def paired(node: NodeProcess) -> WorkstationClient:
    code = control(node, "POST", "/pairing-code")["code"]
    client = WorkstationClient(node.lan_url, language="en")
    client.token = (await client.pair(code, "ke-toan-1")).token
    return client


async def books(ws: WorkstationClient, ds: str) -> None:
    """Accounts, a customer and two receipts (PT000001, PT000002), one of them posted."""
    cash = (await ws.create(ds, "accounts", {"number": "111", "name": "Tiền mặt"})).record
    debt = (await ws.create(ds, "accounts", {"number": "131", "name": "Phải thu"})).record
    kh = (await ws.create(ds, "customers", {"code": "KH001", "name": "Công ty A"})).record
    lines = [{"debit": cash.id, "credit": debt.id, "amount": 250000}]
    await ws.create(ds, "vouchers", {"type": "receipt", "date": "2026-11-02",
                                     "customer": kh.id, "lines": lines})
    second = await ws.create(ds, "vouchers", {"type": "receipt", "date": "2026-11-03",
                                              "customer": kh.id, "lines": lines})
    await ws.post(ds, "vouchers", second.record.id, second.etag)


async def voucher_numbers(ws: WorkstationClient, ds: str) -> list[str]:
    return sorted([r.key async for r in ws.iter_records(ds, "vouchers")])


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    config = write_node_config(tmp_path, datasets=[SRC, DST], language="en",
                               inbox={"dir": "inbox", "dataset": DST, "settle_s": 0.2})
    proc = NodeProcess(config, env=NO_KEYRING)
    proc.start()
    yield proc
    proc.kill()


def cli(node: NodeProcess, *args: str) -> Any:
    return run_cli(*args, "--config", str(node.config), env=NO_KEYRING, timeout=60)


async def test_export_pending_and_import_with_skip_and_renumber(
        node: NodeProcess, tmp_path: Path) -> None:
    ws = await paired(node)
    try:
        await books(ws, SRC)
        await books(ws, DST)  # the other dataset has its own KH001, PT000001 and PT000002

        out = tmp_path / "pending.xml"
        done = cli(node, "export", SRC, "--scope", "pending", "--out", str(out))
        assert done.returncode == 0, done.stderr
        assert f"to {out}" in done.stdout
        body = out.read_bytes()
        assert body.count(b"<record ") == 5 and b'key="KH001"' in body

        # the LAN API gives the same records, as an attachment
        status, headers, lan_body = lan(node, ws.token or "", "GET",
                                        f"/datasets/{SRC}/export?scope=pending")
        assert status == 200
        assert headers["Content-Type"].startswith("application/xml")
        assert "attachment" in headers["Content-Disposition"]
        assert lan_body.count(b"<record ") == 5

        skipped = cli(node, "import", str(out), "--dataset", DST, "--duplicates", "skip")
        assert skipped.returncode == 0, skipped.stderr
        assert "duplicate, skipped: 5" in skipped.stdout, skipped.stdout
        assert await voucher_numbers(ws, DST) == ["receipt/PT000001", "receipt/PT000002"]

        renumbered = cli(node, "import", str(out), "--dataset", DST, "--duplicates", "renumber",
                         "--json")
        assert renumbered.returncode == 0, renumbered.stderr
        report = json.loads(renumbered.stdout)
        moved = [(i["old_number"], i["new_number"]) for i in report["items"]
                 if i["outcome"] == "renumbered"]
        assert moved == [("PT000001", "PT000003"), ("PT000002", "PT000004")]
        assert report["counts"]["duplicate_skipped"] == 3  # the catalogs: linked, not doubled
        assert await voucher_numbers(ws, DST) == [f"receipt/PT00000{n}" for n in range(1, 5)]
        posted = await ws.find_key(DST, "vouchers", "receipt/PT000004")
        assert posted is not None and posted.data["posted"] is True
        assert posted.sync.state.value == "pending"  # written with its op: it will sync

        # the same file once more, through the LAN API: nothing doubled
        status, _, answer = lan(node, ws.token or "", "POST",
                                f"/datasets/{DST}/import?duplicates=renumber", body)
        assert status == 200
        assert json.loads(answer)["counts"]["duplicate_skipped"] == 5
        assert len(await voucher_numbers(ws, DST)) == 4

        # a bomb is refused, in words, and changes nothing
        bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
                b'<officesync version="1">&a;</officesync>')
        status, _, answer = lan(node, ws.token or "", "POST", f"/datasets/{DST}/import", bomb)
        assert status == 422
        error = json.loads(answer)["error"]
        assert error["code"] == "VALIDATION_FAILED" and "DTD" in error["message"]

        refused = cli(node, "import", str(tmp_path / "none.xml"), "--dataset", DST)
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    finally:
        await ws.close()


def _good_file(ids: tuple[str, str]) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<officesync version="1" dataset="elsewhere">
  <record collection="customers" id="{ids[0]}" key="KH900">
    <field name="code">KH900</field><field name="name">Khách hộp thư</field>
  </record>
  <record collection="vendors" id="{ids[1]}" key="NCC900">
    <field name="code">NCC900</field><field name="name">Nhà cung cấp hộp thư</field>
  </record>
</officesync>
""".encode()


async def test_inbox_imports_dropped_files_once(tmp_path: Path) -> None:
    config = write_node_config(tmp_path, datasets=[SRC, DST], language="en",
                               inbox={"dir": "inbox", "dataset": DST, "settle_s": 0.2})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    early = _good_file(("0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0a01",
                        "0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0a02"))
    (inbox / "early.xml").write_bytes(early)  # dropped while the node is down
    (inbox / SRC).mkdir()
    down = run_cli("export", DST, "--out", str(tmp_path / "x.xml"), "--config", str(config),
                   env=NO_KEYRING)
    assert down.returncode == 1 and len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "Traceback" not in down.stderr and not (tmp_path / "x.xml").exists()
    node = NodeProcess(config, env=NO_KEYRING)
    node.start()
    ws = await paired(node)
    try:
        done = inbox / "done"
        wait_until(lambda: (done / "early.xml.report.txt").exists(), 30, "early.xml imported")
        assert (done / "early.xml").read_bytes() == early
        report = (done / "early.xml.report.txt").read_text(encoding="utf-8")
        assert "created: 2" in report and "KH900" in report
        assert await ws.find_key(DST, "customers", "KH900") is not None

        # into the subfolder of the other dataset, written under a temporary name, renamed in
        later = _good_file(("0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0b01",
                            "0b6d8f5e-1c51-4b8e-9a44-7d2a0c7f0b02"))
        (inbox / SRC / "later.xml.tmp").write_bytes(later)
        (inbox / SRC / "later.xml.tmp").rename(inbox / SRC / "later.xml")
        wait_until(lambda: (inbox / SRC / "done" / "later.xml").exists(), 30, "later.xml")
        assert await ws.find_key(SRC, "customers", "KH900") is not None

        # the same content again, under another name: not imported a second time
        (inbox / "again.xml").write_bytes(early)
        wait_until(lambda: (done / "again.xml.report.txt").exists(), 30, "again.xml")
        again = (done / "again.xml.report.txt").read_text(encoding="utf-8")
        assert "was imported at" in again and "early.xml" in again
        assert len([r async for r in ws.iter_records(DST, "customers")]) == 1

        # a malformed file: failed/, with the reason
        (inbox / "broken.xml").write_bytes(b"<officesync version='1'><record collection=")
        failed = inbox / "failed"
        wait_until(lambda: (failed / "broken.xml.report.txt").exists(), 30, "broken.xml")
        assert (failed / "broken.xml").exists() and not (inbox / "broken.xml").exists()
        reason = (failed / "broken.xml.report.txt").read_text(encoding="utf-8")
        assert "not well-formed XML at line 1" in reason
        detail = json.loads((failed / "broken.xml.report.json").read_text(encoding="utf-8"))
        assert detail["outcome"] == "failed"
        assert detail["error"]["code"] == "VALIDATION_FAILED"

        # the watcher is healthy: nothing failing in /status
        assert not control(node, "GET", "/status")["failing_tasks"]
    finally:
        await ws.close()
        node.kill()


async def test_a_file_from_another_office_imported_here_syncs_to_the_hub(tmp_path: Path) -> None:
    """Office A (standalone, dataset cty-abc) exports its pending work over the LAN API;
    office B (enrolled, dataset cty-xyz) imports it with the CLI: the records are written with
    their ops and reach the hub."""
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db", free_port(), tmp_path / "logs",
                     env=NO_KEYRING)
    hub.create_dataset(DST)
    hub.start()
    a = NodeProcess(write_node_config(tmp_path, name="office-a", datasets=[SRC],
                                      language="en", filename="a.toml"), env=NO_KEYRING)
    b_config = write_node_config(tmp_path, name="office-b", datasets=[DST], language="en",
                                 filename="b.toml", cloud_url=hub.url,
                                 cloud={"probe_interval_s": 0.3, "max_backoff_s": 1,
                                        "long_poll_s": 5})
    enroll_node(b_config, hub, hub.enroll_code(DST), NO_KEYRING)
    b = NodeProcess(b_config, env=NO_KEYRING)
    a.start()
    b.start()
    ws = await paired(a)
    try:
        await books(ws, SRC)
        status, _, body = lan(a, ws.token or "", "GET", f"/datasets/{SRC}/export")
        assert status == 200
        path = tmp_path / "from-a.xml"
        path.write_bytes(body)

        done = cli(b, "import", str(path), "--dataset", DST)
        assert done.returncode == 0, done.stderr
        assert "created: 5" in done.stdout, done.stdout

        def synced() -> bool:
            counts = control(b, "GET", "/status")["datasets"][0]["counts"]
            return counts["synced"] == 5 and counts["pending"] == 0

        wait_until(synced, 30, "the imported records synced to the hub")
    finally:
        await ws.close()
        a.kill()
        b.kill()
        hub.kill()
