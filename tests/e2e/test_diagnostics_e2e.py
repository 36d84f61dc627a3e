"""S12 with real processes: a full scenario (enroll, pair, writes, an outage, the "work
offline" toggle, a record the hub refuses), then the diagnostics bundle through the CLI and
through the control API, and from the files once the node is stopped. Every file of every
bundle is searched for every token, code and password used: none may appear; what support
needs (versions, states, the connectivity history, the refused record and its reason, the
outbox, the logs) must."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.agent.sync.conftest import eventually

from .hub_procs import HubProcess, enroll_node
from .procs import NO_KEYRING, NodeProcess, free_port, run_cli, write_node_config
from .test_sync_e2e import DS, FAST_CLOUD, status

pytestmark = pytest.mark.e2e
PASSWORD = "Pw-Support-7731"


def hub_call(hub: HubProcess, method: str, path: str, body: Any = None,
             token: str | None = None) -> Any:
    headers = {"OfficeSync-Protocol": "1", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(f"{hub.url}{path}", method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def control_bytes(node: NodeProcess, method: str, path: str, body: Any = None) -> bytes:
    request = urllib.request.Request(
        f"{node.control_url}/control/v1{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {node.control_token()}",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return bytes(answer.read())


def control(node: NodeProcess, method: str, path: str, body: Any = None) -> Any:
    return json.loads(control_bytes(node, method, path, body))


def forms(secret: str) -> set[str]:
    """A secret as it could be written: as is, without dashes, lower case, its sha256."""
    bare = secret.replace("-", "")
    return {secret, bare, secret.lower(), bare.lower(),
            hashlib.sha256(secret.encode()).hexdigest(),
            hashlib.sha256(bare.encode()).hexdigest()}


def unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode("utf-8") for name in archive.namelist()}


def assert_no_secret(files: dict[str, str], secrets: dict[str, str]) -> None:
    for name, text in files.items():
        for what, secret in secrets.items():
            for form in forms(secret):
                assert form not in text, f"{what} found in {name}"


async def test_bundle_has_what_support_needs_and_no_secret(tmp_path: Path) -> None:
    hub = HubProcess(f"sqlite:///{tmp_path}/hub.db", free_port(), tmp_path / "logs",
                     env=NO_KEYRING)
    hub.create_dataset(DS)
    hub.start()
    config = write_node_config(tmp_path, name="office", cloud_url=hub.url, cloud=FAST_CLOUD,
                               language="en")
    node_code = hub.enroll_code(DS)
    enroll_node(config, hub, node_code, NO_KEYRING)
    node = NodeProcess(config, env=NO_KEYRING)
    node.start()
    try:
        await _scenario(tmp_path, hub, node, config, node_code)
    finally:
        node.kill()
        hub.kill()


async def _scenario(tmp_path: Path, hub: HubProcess, node: NodeProcess, config: Path,
                    node_code: str) -> None:
    from workstation.client import WorkstationClient

    pairing = control(node, "POST", "/pairing-code")["code"]
    ws = WorkstationClient(node.lan_url, language="en")
    ws_token = (await ws.pair(pairing, "ke-toan")).token
    later_pairing = control(node, "POST", "/pairing-code")["code"]  # issued, never used
    try:
        async def online() -> bool:
            return bool(status(node)["connectivity"] == "online")

        await eventually(online, 30)
        first = await ws.create(DS, "customers", {"code": "KH001", "name": "Một"})

        async def synced() -> bool:
            return (await ws.get(DS, "customers", first.record.id)).record.sync.state == "synced"

        await eventually(synced, 30)

        hub.kill()  # an outage

        async def unavailable() -> bool:
            return bool(status(node)["connectivity"] == "cloud_unavailable")

        await eventually(unavailable, 30)
        clash = await ws.create(DS, "customers", {"code": "KH050", "name": "Của văn phòng A"})
        off = run_cli("offline", "--config", str(config), env=NO_KEYRING)
        assert off.returncode == 0, off.stderr
        hub.start()
        # Another office takes KH050 on the hub first: the node's push will be refused.
        other_code = hub.enroll_code(DS)
        other = hub_call(hub, "POST", "/v1/enroll", {"code": other_code, "node_name": "b"})
        hub_call(hub, "POST", f"/v1/datasets/{DS}/push", {"ops": [{
            "op_id": str(uuid.uuid4()), "collection": "customers", "id": str(uuid.uuid4()),
            "action": "create", "data": {"code": "KH050", "name": "Của văn phòng B"}}]},
            token=other["token"])
        on = run_cli("online", "--config", str(config), env=NO_KEYRING)
        assert on.returncode == 0, on.stderr

        async def refused() -> bool:
            got = await ws.get(DS, "customers", clash.record.id)
            return got.record.sync.state == "error"

        await eventually(refused, 30)

        secrets = {
            "hub token": (node.data_dir / "hub.token").read_text(encoding="utf-8").strip(),
            "control token": node.control_token(),
            "workstation token": ws_token,
            "pairing code": pairing,
            "unused pairing code": later_pairing,
            "enrollment code": node_code,
            "other enrollment code": other_code,
            "other node's token": other["token"],
        }
        out = tmp_path / "bundle.zip"
        done = run_cli("diagnostics", "--out", str(out), "--config", str(config), "--lang",
                       "en", env=NO_KEYRING)
        assert done.returncode == 0, done.stderr
        assert "Diagnostics bundle written" in done.stdout
        from_cli = unzip(out.read_bytes())
        from_route = unzip(control_bytes(node, "GET", "/diagnostics"))
        for files in (from_cli, from_route):
            assert_no_secret(files, secrets)
            _what_support_needs(files, clash.record.id)
    finally:
        await ws.close()

    _offline_bundle(tmp_path, hub, node, config, secrets, clash.record.id)


def _offline_bundle(tmp_path: Path, hub: HubProcess, node: NodeProcess, config: Path,
                    secrets: dict[str, str], clash_id: str) -> None:
    """Nothing works any more: the node is stopped, a password sits in the cloud URL."""
    node.terminate()
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f'url = "{hub.url}"',
                                   f'url = "http://support:{PASSWORD}@{hub.url[7:]}"'),
                      encoding="utf-8")
    offline_out = tmp_path / "offline.zip"
    done = run_cli("diagnostics", "--out", str(offline_out), "--config", str(config),
                   "--lang", "en", env=NO_KEYRING)
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout
    files = unzip(offline_out.read_bytes())
    assert_no_secret(files, {**secrets, "password": PASSWORD})
    report = json.loads(files[f"datasets/{DS}.json"])
    assert any(i["id"] == clash_id and "KH050" in i["message"]["en"]
               for i in report["issues"])
    assert hub.url[7:] in files["config.json"]  # the host is kept, the user info is not


def _what_support_needs(files: dict[str, str], clash_id: str) -> None:
    from protocol.version import PACKAGE_VERSION

    assert {"about.json", "config.json", "status.json", "connectivity.json",
            f"datasets/{DS}.json", "jobs.json", "workstations.json", "runtime.json",
            "logs/node.log"} <= set(files)
    about = json.loads(files["about.json"])
    assert about["version"] == PACKAGE_VERSION and about["os"]["system"]
    assert about["python"]["version"]
    states = [t.get("connectivity") for t in json.loads(files["connectivity.json"])["transitions"]]
    assert "online" in states and "cloud_unavailable" in states and "offline_by_user" in states
    report = json.loads(files[f"datasets/{DS}.json"])
    assert report["counts"]["synced"] >= 1 and report["counts"]["error"] == 1
    [issue] = [i for i in report["issues"] if i["id"] == clash_id]
    assert issue["sync_code"] == "DUPLICATE_KEY" and issue["key"]
    assert "KH050" in issue["message"]["en"] and "đã tồn tại" in issue["message"]["vi"]
    assert issue["sync_details"]["existing"]["data"]["code"] == "KH050"  # the cloud's record
    assert report["outbox"]["count"] >= 1 and report["outbox"]["by_state"]
    shown = json.loads(files["status.json"])
    [dataset] = shown["datasets"]
    assert dataset["id"] == DS and "state" in dataset["selfcheck"]  # the self-check's result
    assert isinstance(json.loads(files["jobs.json"]), list)  # repair job reports
    assert [w["name"] for w in json.loads(files["workstations.json"])] == ["ke-toan"]
    assert json.loads(files["runtime.json"])["lan_url"].startswith("http://127.0.0.1:")
    assert "officesync." in files["logs/node.log"]
