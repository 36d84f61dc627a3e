"""LAN TLS end to end: a real node with ``[lan] tls = true`` on loopback, a workstation that
pins its certificate at pairing, and the same node with a new certificate refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.tls import CERT_FILE, KEY_FILE, fingerprint_of
from workstation.cli import ws
from workstation.profile import load_profile
from workstation.tls import MISMATCH_MESSAGE

from .procs import NO_KEYRING, NodeProcess, run_cli, workstation_env, write_node_config

pytestmark = pytest.mark.e2e
DS = "cty-abc"


def ws_ok(env: dict[str, str], *args: str) -> object:
    done = run_cli("ws", *args, env=env)
    assert done.returncode == 0, f"ws {' '.join(args)} failed: {done.stderr}"
    return json.loads(done.stdout)


def ws_refused(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = run_cli("ws", *args, env=env)
    assert done.returncode != 0, f"ws {' '.join(args)} should have failed: {done.stdout}"
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout == ""
    return done


def test_pinned_certificate_and_a_replaced_one(tmp_path: Path) -> None:
    config = write_node_config(tmp_path, name="node-tls", lan={"tls": True})
    node = NodeProcess(config, env=NO_KEYRING)
    env = workstation_env(tmp_path / "ws-home")
    with node:
        assert node.lan_url.startswith("https://127.0.0.1:")
        fingerprint = fingerprint_of((node.data_dir / "tls" / CERT_FILE).read_bytes())
        shown = run_cli("status", "--config", str(config), env=NO_KEYRING)
        assert f"TLS SHA-256: {fingerprint}" in shown.stdout, shown.stdout

        # A wrong --fingerprint fails pairing and the code is not used up (in-process CLI:
        # one slow process start less).
        code = node.pair_code()
        wrong = CliRunner().invoke(ws, [
            "--lang", "en", "pair", "--node", node.lan_url, "--code", code,
            "--fingerprint", "00" * 32,
        ], env=env)
        assert wrong.exit_code == 1
        assert wrong.output.startswith("FORBIDDEN: The node at https://127.0.0.1:")
        assert not (tmp_path / "ws-home" / "workstation.json").exists()

        # Trust on first use: the fingerprint the node states is pinned and kept.
        paired = ws_ok(env, "pair", "--node", node.lan_url, "--code", code, "--name", "KT-TLS")
        assert isinstance(paired, dict) and paired["fingerprint"] == fingerprint
        assert load_profile(tmp_path / "ws-home").fingerprint == fingerprint
        assert ws_ok(env, "list", DS, "customers") == {"items": [], "next": None}

    # The node is reinstalled with a new certificate (same address, same data).
    tls_dir = node.data_dir / "tls"
    (tls_dir / CERT_FILE).unlink()
    (tls_dir / KEY_FILE).unlink()
    with node:
        assert fingerprint_of((tls_dir / CERT_FILE).read_bytes()) != fingerprint
        refused = ws_refused(env, "list", DS, "customers")
        assert refused.stderr.strip() == f"FORBIDDEN: {MISMATCH_MESSAGE['vi']}"
