"""A real node process and a workstation driven through the ``officesync`` CLI.

Pairing, writes that reference each other, a stale edit refused with ``STALE_LOCAL_COPY``,
an acknowledged write that survives SIGKILL, and an unpaired device that reads nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from protocol.errors import ErrorCode
from workstation.client import WorkstationClient, WorkstationError
from workstation.profile import load_profile
from workstation.tokens import load_token

from .procs import NodeProcess, officesync_cmd, run_cli, workstation_env

pytestmark = pytest.mark.e2e
DS = "cty-abc"


def ws(env: dict[str, str], *args: str) -> dict[str, Any]:
    """Run ``officesync ws ARGS``; it must succeed and print one JSON object."""
    done = run_cli("ws", *args, env=env)
    assert done.returncode == 0, f"ws {' '.join(args)} failed: {done.stderr}"
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict)
    return answer


def ws_fails(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("ws", *args, env=env)
    assert done.returncode != 0, f"ws {' '.join(args)} should have failed: {done.stdout}"
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done


def library(env: dict[str, str], **kwargs: Any) -> WorkstationClient:
    """The client library with the CLI workstation's profile and token (fewer slow CLI runs)."""
    home = Path(env["OFFICESYNC_WS_HOME"])
    profile = load_profile(home)
    token = load_token(home, profile.workstation_id, profile.token_store)
    return WorkstationClient(profile.node_url, token, **kwargs)


def call(env: dict[str, str], method: str, *args: Any) -> Any:
    async def go() -> Any:
        async with library(env) as client:
            return await getattr(client, method)(*args)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def paired(node: NodeProcess, e2e_dir: Path) -> dict[str, str]:
    """A workstation paired through the CLI: ``officesync pair-code`` then ``ws pair``."""
    env = workstation_env(e2e_dir / "ws-paired")
    answer = ws(env, "pair", "--node", node.lan_url, "--code", node.pair_code(), "--name", "KT-01")
    assert answer["workstation_id"]
    assert answer["token_store"] == "file"  # the "fail" keyring is not a real one
    token_path = Path(answer["token_location"])
    assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
    return env


def test_records_stale_edit_and_sigkill(node: NodeProcess, paired: dict[str, str]) -> None:
    env = paired
    customer = ws(env, "create", DS, "customers", "--data", '{"code":"KH001","name":"Công ty A"}')
    debit, _ = call(env, "create", DS, "accounts", {"number": "131", "name": "Phải thu"})
    credit, _ = call(env, "create", DS, "accounts", {"number": "511", "name": "Doanh thu"})
    voucher_data = {
        "type": "sales_invoice", "number": "BH000001", "date": "2026-11-28",
        "customer": customer["id"],
        "lines": [{"debit": debit.id, "credit": credit.id, "amount": 1_500_000}],
    }
    voucher = ws(env, "create", DS, "vouchers", "--data", json.dumps(voucher_data))
    assert voucher["data"]["customer"] == customer["id"]
    assert voucher["etag"]

    first_etag = voucher["etag"]
    edited = {**voucher_data, "description": "sửa lần 1"}
    updated = ws(env, "update", DS, "vouchers", voucher["id"],
                 "--data", json.dumps(edited), "--etag", first_etag)
    assert updated["etag"] != first_etag

    # S10: an edit based on the old copy is refused, nothing is overwritten.
    stale = {**voucher_data, "description": "sửa từ bản cũ"}
    refused = ws_fails(env, "update", DS, "vouchers", voucher["id"],
                       "--data", json.dumps(stale), "--etag", first_etag)
    assert refused.stderr.startswith("STALE_LOCAL_COPY: Dữ liệu đã bị thay đổi")
    refused_en = ws_fails(env, "--lang", "en", "post", DS, "vouchers", voucher["id"],
                          "--etag", first_etag)
    assert refused_en.stderr.startswith("STALE_LOCAL_COPY: Data has changed")
    current, etag = call(env, "get", DS, "vouchers", voucher["id"])
    assert current.data["description"] == "sửa lần 1"
    assert etag == updated["etag"]

    # An acknowledged write survives SIGKILL right after the acknowledgement.
    acked = ws(env, "create", DS, "customers", "--data", '{"code":"KH002","name":"Công ty B"}')
    node.kill()
    node.start()
    found = ws(env, "get", DS, "customers", acked["id"])
    assert found["data"] == acked["data"]
    assert call(env, "get", DS, "vouchers", voucher["id"]).record.data["description"] == "sửa lần 1"


def test_unpaired_device_reads_nothing(node: NodeProcess, paired: dict[str, str],
                                       ws_env: dict[str, str]) -> None:
    async def attempt(token: str | None) -> WorkstationError:
        async with WorkstationClient(node.lan_url, token, language="en") as client:
            with pytest.raises(WorkstationError) as caught:
                await client.list_records(DS, "customers")
            return caught.value

    for token in (None, "not-a-token"):
        err = asyncio.run(attempt(token))
        assert (err.code, err.status) == (ErrorCode.UNAUTHORIZED, 401)
        assert "items" not in err.details and "KH001" not in json.dumps(err.details)

    done = ws_fails(ws_env, "list", DS, "customers")
    assert done.stderr.startswith("UNAUTHORIZED: ")
    assert done.stdout == ""


def test_watch_prints_record_events(node: NodeProcess, paired: dict[str, str]) -> None:
    watcher = subprocess.Popen(
        officesync_cmd("ws", "watch", DS, "--count", "1", "--timeout", "30"),
        env={**os.environ, **paired}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        n = 0
        # The watcher's socket may open after our first write: keep writing until it reports.
        while watcher.poll() is None and time.monotonic() < deadline:
            n += 1
            call(paired, "create", DS, "customers", {"code": f"W{n:03d}", "name": "Theo dõi"})
            time.sleep(0.1)  # pacing only; the loop ends on the watcher's exit, not on time
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(timeout=10)
    assert watcher.returncode == 0, err
    event = json.loads(out.strip().splitlines()[0])
    assert event["type"] == "record"
    assert event["record"]["collection"] == "customers"

