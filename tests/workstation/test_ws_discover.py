"""``officesync ws discover`` and ``ws pair --discover``.

The choice of a node and the pairing options are pure and tested directly (and through the
CLI with a fake discovery). A real node (``officesync serve``, TLS and mDNS on) bound inside
one network namespace is then found and paired with from another, over a veth link with
link-local addresses made by the test (the ``link`` fixture of ``test_discovery``): nothing
is sent on the host's network. That test skips, with the reason printed, where namespaces
cannot be made."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from agent.tls import fingerprint_of
from protocol.errors import ErrorCode
from tests.agent.test_discovery import ADDR_A, Link, link  # noqa: F401 - ``link`` is a fixture
from tests.e2e.procs import (
    NO_KEYRING,
    NodeProcess,
    officesync_cmd,
    workstation_env,
    write_node_config,
)
from workstation import cli as ws_cli
from workstation.discovery import DiscoveredNode
from workstation.messages import LocalError
from workstation.pairing import PairTarget, node_json, pair_target, pick_node
from workstation.profile import load_profile

FP_A, FP_B = "aa" * 32, "bb" * 32
NODE_DEADLINE = 60.0


def node(name: str, addr: str = "169.254.1.1", fp: str | None = None) -> DiscoveredNode:
    return DiscoveredNode(
        name=name, host=f"{name}.local.", addresses=(addr,), port=8470, version="1.0",
        protocol=1, datasets=("cty-abc",), tls=fp is not None, fingerprint=fp,
        instance=f"{name}._officesync._tcp.local.",
    )


HN, HCM = node("Văn phòng HN", "169.254.1.1", FP_A), node("Chi nhánh HCM", "169.254.1.2")


# --- choosing a node (pure) ---------------------------------------------------------------


def test_the_only_node_is_picked_without_a_name() -> None:
    assert pick_node([HN], None) is HN
    assert pick_node([HN], "") is HN


def test_a_name_picks_among_several_case_insensitively() -> None:
    assert pick_node([HN, HCM], "chi nhánh hcm") is HCM
    assert pick_node([HN, HCM], "Văn phòng HN") is HN


def test_several_nodes_without_a_name_is_an_error_listing_them() -> None:
    with pytest.raises(LocalError) as err:
        pick_node([HN, HCM], None)
    assert err.value.key == "ambiguous_node" and err.value.code is ErrorCode.VALIDATION_FAILED
    assert "Văn phòng HN (https://169.254.1.1:8470)" in err.value.text("en")
    assert "Chi nhánh HCM (http://169.254.1.2:8470)" in err.value.text("vi")


def test_two_nodes_with_the_same_name_are_ambiguous() -> None:
    twin = node("Văn phòng HN", "169.254.1.9")
    with pytest.raises(LocalError) as err:
        pick_node([HN, twin, HCM], "Văn phòng HN")
    assert err.value.key == "ambiguous_node"
    assert "169.254.1.9" in err.value.text("en") and "HCM" not in err.value.text("en")


def test_an_unknown_name_or_no_node_is_not_found() -> None:
    with pytest.raises(LocalError) as err:
        pick_node([HN, HCM], "Đà Nẵng")
    assert err.value.code is ErrorCode.NOT_FOUND
    assert err.value.text("en").startswith("No node named Đà Nẵng. Nodes found: Văn phòng HN")
    with pytest.raises(LocalError) as none:
        pick_node([], None, timeout=2.5)
    assert none.value.key == "no_nodes" and "2.5" in none.value.text("vi")


def test_pair_target_pins_the_advertised_fingerprint() -> None:
    assert pair_target(None, HN, None) == PairTarget("https://169.254.1.1:8470", FP_A)
    assert pair_target(None, HN, FP_A.upper()) == PairTarget(HN.url, FP_A)
    assert pair_target(None, HCM, None) == PairTarget("http://169.254.1.2:8470", None)
    colons = ":".join(["AA"] * 32)
    assert pair_target("https://h:8470/", None, colons) == PairTarget("https://h:8470", FP_A)
    assert pair_target("https://h:8470", None, None).tls


@pytest.mark.parametrize(
    ("url", "found", "fingerprint", "key"),
    [
        (None, None, None, "node_or_discover"),
        ("http://h:8470", HN, None, "node_or_discover"),
        (None, HN, FP_B, "fingerprint_conflict"),
        ("https://h:8470", None, "abcd", "bad_fingerprint"),
        ("http://h:8470", None, FP_A, "fingerprint_needs_https"),
    ],
)
def test_pair_target_refuses_bad_options(
    url: str | None, found: DiscoveredNode | None, fingerprint: str | None, key: str
) -> None:
    with pytest.raises(LocalError) as err:
        pair_target(url, found, fingerprint)
    assert err.value.key == key


# --- the CLI with a fake discovery ----------------------------------------------------------


@pytest.fixture
def found(monkeypatch: pytest.MonkeyPatch) -> list[DiscoveredNode]:
    nodes: list[DiscoveredNode] = []

    async def fake_discover(timeout: float) -> list[DiscoveredNode]:  # noqa: ASYNC109
        return list(nodes)

    monkeypatch.setattr(ws_cli, "find_nodes", fake_discover)
    return nodes


def run(args: Sequence[str], home: Path) -> Result:
    env = {"OFFICESYNC_WS_HOME": str(home), **NO_KEYRING}
    return CliRunner().invoke(ws_cli.ws, list(args), env=env)


def test_discover_prints_nodes(found: list[DiscoveredNode], tmp_path: Path) -> None:
    found += [HCM, HN]
    done = run(["discover", "--json", "--timeout", "0.5"], tmp_path)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output) == [node_json(HCM), node_json(HN)]
    assert json.loads(done.output)[1]["fingerprint"] == FP_A
    human = run(["--lang", "en", "discover"], tmp_path)
    assert human.exit_code == 0
    assert "Văn phòng HN  https://169.254.1.1:8470  version 1.0" in human.output
    assert f"TLS SHA-256: {FP_A}" in human.output and "TLS: off" in human.output
    found.clear()
    empty = run(["--lang", "en", "discover", "--timeout", "1"], tmp_path)
    assert empty.exit_code == 0 and "No OfficeSync node found" in empty.output
    assert json.loads(run(["discover", "--json"], tmp_path).output) == []


def test_pair_discover_with_several_nodes_lists_them(
    found: list[DiscoveredNode], tmp_path: Path
) -> None:
    found += [HN, HCM]
    done = run(["--lang", "en", "pair", "--discover", "--code", "X"], tmp_path)
    assert done.exit_code == 1
    assert done.output.startswith("VALIDATION_FAILED: Several nodes found: Văn phòng HN (")
    unknown = run(["pair", "--discover", "Huế", "--code", "X"], tmp_path)
    assert unknown.exit_code == 1 and unknown.output.startswith("NOT_FOUND: ")
    assert not (tmp_path / "workstation.json").exists()


# --- a real node in one namespace, the workstation in another -------------------------------


def _in_ns(ns: str, *args: str, env: dict[str, str], timeout: float = NODE_DEADLINE) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, *officesync_cmd(*args)], env={**env, "PYTHONUNBUFFERED": "1"},
        capture_output=True, text=True, encoding="utf-8", timeout=timeout, check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)} failed: {done.stderr}"
    return done.stdout


def test_ws_discovers_and_pairs_with_a_node_on_its_link(link: Link, tmp_path: Path) -> None:  # noqa: F811
    name = "Văn phòng Hà Nội"
    config = write_node_config(
        tmp_path, name=name, datasets=["cty-abc", "cty-xyz"], lan_port=8470,
        lan={"host": ADDR_A, "tls": True}, discovery={"enabled": True},
    )
    proc = NodeProcess(config, env=NO_KEYRING, ready_timeout=NODE_DEADLINE)
    proc.args = ["ip", "netns", "exec", link.ns_a, *proc.args]
    env: dict[str, Any] = {**os.environ, **workstation_env(tmp_path / "ws-home")}
    node_env = {**os.environ, **NO_KEYRING}
    with proc:
        fingerprint = fingerprint_of((proc.data_dir / "tls" / "lan-cert.pem").read_bytes())
        listed = json.loads(_in_ns(link.ns_b, "ws", "discover", "--json", "--timeout", "2",
                                   env=env))
        assert [(n["name"], n["url"], n["datasets"], n["fingerprint"]) for n in listed] == [
            (name, f"https://{ADDR_A}:8470", ["cty-abc", "cty-xyz"], fingerprint)
        ]

        code = _in_ns(link.ns_a, "pair-code", "--config", str(config),
                      env=node_env).strip().splitlines()[-1]
        paired = json.loads(_in_ns(
            link.ns_b, "ws", "pair", "--discover", "văn phòng hà nội", "--discover-timeout",
            "2", "--code", code, "--name", "KT-NS", env=env,
        ))
        assert paired["node_url"] == f"https://{ADDR_A}:8470"
        assert paired["fingerprint"] == fingerprint
        profile = load_profile(tmp_path / "ws-home")
        assert (profile.node_url, profile.fingerprint) == (paired["node_url"], fingerprint)

        datasets = json.loads(_in_ns(link.ns_b, "ws", "datasets", env=env))
        assert [d["id"] for d in datasets] == ["cty-abc", "cty-xyz"]
