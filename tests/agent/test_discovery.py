"""mDNS discovery between two hosts on their own link: the advertiser runs in one network
namespace, ``discover()`` in another, joined by a veth pair with link-local addresses made by
this test. Nothing is sent on the host's network. Skips (with the reason) where namespaces
cannot be made: not root, no ``ip``, or no permission in this container."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from agent.discovery import build_txt
from protocol.discovery import SERVICE_TYPE, instance_label
from workstation.discovery import DiscoveredNode, node_from_txt, parse_txt

ADDR_A, ADDR_B = "169.254.77.1", "169.254.77.2"
FINGERPRINT = "ab" * 32
DEADLINE = 30.0

ADVERTISER = """
import asyncio, sys
from agent.discovery import Advertiser

async def main():
    adv = Advertiser(sys.argv[1], 8470, datasets=["cty-abc", "cty-xyz"],
                     fingerprint=sys.argv[2], addresses=[sys.argv[3]])
    await adv.start()
    print("READY", adv.instance_name, flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        if line.strip() == "update":
            await adv.update(datasets=["cty-abc", "cty-new"])
            print("UPDATED", flush=True)
    await adv.stop()
    await adv.stop()
    print("STOPPED", flush=True)

asyncio.run(main())
"""

DISCOVER = """
import asyncio, json
from dataclasses import asdict
from workstation.discovery import discover
print(json.dumps([asdict(n) for n in asyncio.run(discover(timeout=2.0))]))
"""


@dataclass
class Link:
    ns_a: str
    ns_b: str


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _skip_reason() -> str | None:
    if sys.platform != "linux":
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    return None


@pytest.fixture
def link() -> Iterator[Link]:
    reason = _skip_reason()
    if reason:
        print(f"SKIP discovery test: {reason}")
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    ns_a, ns_b, veth_a, veth_b = f"osd{tag}a", f"osd{tag}b", f"osv{tag}a", f"osv{tag}b"
    made: list[str] = []
    try:
        for ns in (ns_a, ns_b):
            _ip("netns", "add", ns)
            made.append(ns)
        _ip("link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
        for ns, veth, addr in ((ns_a, veth_a, ADDR_A), (ns_b, veth_b, ADDR_B)):
            _ip("link", "set", veth, "netns", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{addr}/16", "dev", veth)
            _ip("-n", ns, "link", "set", veth, "up", "multicast", "on")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", veth)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        stderr = getattr(err, "stderr", b"") or b""
        reason = f"cannot make network namespaces here: {stderr.decode().strip() or err}"
        print(f"SKIP discovery test: {reason}")
        pytest.skip(reason)
    try:
        yield Link(ns_a, ns_b)
    finally:
        for ns in made:  # deleting a namespace deletes its end of the veth pair too
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


async def _line(stream: asyncio.StreamReader) -> str:
    return (await asyncio.wait_for(stream.readline(), timeout=DEADLINE)).decode().strip()


async def _discover_from(ns: str) -> list[DiscoveredNode]:
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-c", DISCOVER,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=DEADLINE)
    assert proc.returncode == 0, err.decode()
    nodes = json.loads(out)
    for n in nodes:
        n["addresses"], n["datasets"] = tuple(n["addresses"]), tuple(n["datasets"])
    return [DiscoveredNode(**n) for n in nodes]


async def test_a_workstation_finds_the_node_on_its_link(link: Link) -> None:
    node_name = "Văn phòng Hà Nội"
    adv = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", link.ns_a, sys.executable, "-c", ADVERTISER,
        node_name, FINGERPRINT, ADDR_A,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert adv.stdin is not None and adv.stdout is not None
    try:
        ready = await _line(adv.stdout)
        assert ready.startswith("READY ") and ready.endswith(SERVICE_TYPE)

        [node] = await _discover_from(link.ns_b)
        assert node.name == node_name
        assert node.addresses == (ADDR_A,)
        assert node.port == 8470
        assert node.datasets == ("cty-abc", "cty-xyz")
        assert node.tls and node.fingerprint == FINGERPRINT
        assert node.protocol == 1 and node.version
        assert node.url == f"https://{ADDR_A}:8470"

        adv.stdin.write(b"update\n")
        await adv.stdin.drain()
        assert await _line(adv.stdout) == "UPDATED"
        [node] = await _discover_from(link.ns_b)
        assert node.datasets == ("cty-abc", "cty-new")

        adv.stdin.close()
        assert await _line(adv.stdout) == "STOPPED"
        assert await asyncio.wait_for(adv.wait(), timeout=DEADLINE) == 0
    finally:
        if adv.returncode is None:
            adv.kill()
            await adv.wait()


async def test_nothing_is_found_on_an_empty_link(link: Link) -> None:
    assert await _discover_from(link.ns_b) == []


def test_txt_round_trip_and_limits() -> None:
    txt = build_txt("Kế toán.chính", ["cty-abc", "cty-x"], None, version="9.9")
    assert txt == {
        "node": "Kế toán.chính",
        "version": "9.9",
        "proto": "1",
        "datasets": "cty-abc,cty-x",
        "tls": "0",
    }
    node = node_from_txt(
        "Ke-toan._officesync._tcp.local.", "h.local.", ["169.254.1.1"], 8470, parse_txt(txt)
    )
    assert node.name == "Kế toán.chính" and node.fingerprint is None and not node.tls
    assert node.url == "http://169.254.1.1:8470"
    many = build_txt("n", [f"dataset-{i:03d}" for i in range(100)], FINGERPRINT)
    assert len(("datasets=" + many["datasets"]).encode()) <= 255
    assert many["datasets"].split(",")[0] == "dataset-000"
    assert many["fp"] == FINGERPRINT and many["tls"] == "1"


def test_instance_label_is_a_valid_dns_sd_label() -> None:
    assert instance_label("office.primary") == "office-primary"
    assert instance_label("") == "officesync"
    assert len(instance_label("ă" * 100).encode()) <= 63
