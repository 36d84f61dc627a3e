"""mDNS / DNS-SD: the node advertises itself on the LAN; workstations find it without typing
an address (``officesync ws discover``).

Service type ``_officesync._tcp.local.``; TXT keys: ``node`` (node name), ``version``,
``proto`` (protocol version), ``datasets`` (comma list), ``tls`` (``1``/``0``) and ``fp`` (the
LAN certificate's SHA-256 fingerprint, only with TLS). The fingerprint found this way is a
convenience for pairing, not a trust anchor on its own: the pairing code confirms it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import ifaddr
from zeroconf import InterfaceChoice, InterfacesType, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from protocol.version import PACKAGE_VERSION, PROTOCOL_VERSION

log = logging.getLogger(__name__)

SERVICE_TYPE = "_officesync._tcp.local."
TXT_VALUE_MAX = 255  # bytes in one TXT string, key and "=" included


@dataclass(frozen=True)
class DiscoveredNode:
    name: str
    host: str  # the mDNS host name (``….local.``)
    addresses: tuple[str, ...]
    port: int
    version: str
    protocol: int | None
    datasets: tuple[str, ...]
    tls: bool
    fingerprint: str | None
    instance: str = field(default="", compare=False)

    @property
    def url(self) -> str:
        """The LAN API base URL (first address), e.g. ``http://169.254.1.2:8470``."""
        scheme = "https" if self.tls else "http"
        host = self.addresses[0] if self.addresses else self.host.rstrip(".")
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"


def instance_label(node_name: str) -> str:
    """A DNS-SD instance label for the node: printable, no dots, at most 63 UTF-8 bytes."""
    label = re.sub(r"[\x00-\x1f.]+", "-", node_name).strip(" -") or "officesync"
    while len(label.encode("utf-8")) > 63:
        label = label[:-1]
    return label


def build_txt(
    node_name: str,
    datasets: Sequence[str],
    fingerprint: str | None,
    version: str = PACKAGE_VERSION,
) -> dict[str, str]:
    """The TXT record; the dataset list is cut at a comma to stay inside one TXT string."""
    shown: list[str] = []
    for ds in datasets:
        if len(("datasets=" + ",".join([*shown, ds])).encode("utf-8")) > TXT_VALUE_MAX:
            break
        shown.append(ds)
    txt = {
        "node": node_name.encode("utf-8")[: TXT_VALUE_MAX - 5].decode("utf-8", "ignore"),
        "version": version,
        "proto": str(PROTOCOL_VERSION),
        "datasets": ",".join(shown),
        "tls": "1" if fingerprint else "0",
    }
    if fingerprint:
        txt["fp"] = fingerprint
    return txt


def parse_txt(props: Mapping[str, str | None]) -> dict[str, str]:
    """TXT properties as zeroconf decodes them (a key without value → empty string)."""
    return {key: value or "" for key, value in props.items()}


def node_from_txt(
    instance: str, host: str, addresses: Iterable[str], port: int, txt: Mapping[str, str]
) -> DiscoveredNode:
    label = instance.removesuffix("." + SERVICE_TYPE)
    proto = txt.get("proto", "")
    return DiscoveredNode(
        name=txt.get("node") or label,
        host=host,
        addresses=tuple(addresses),
        port=port,
        version=txt.get("version", ""),
        protocol=int(proto) if proto.isdigit() else None,
        datasets=tuple(d for d in txt.get("datasets", "").split(",") if d),
        tls=txt.get("tls") == "1",
        fingerprint=txt.get("fp") or None,
        instance=instance,
    )


def local_addresses() -> list[str]:
    """Non-loopback, non-wildcard IPv4 addresses of this machine's interfaces."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                addr = ipaddress.ip_address(ip.ip)
                if not addr.is_loopback and not addr.is_unspecified:
                    found.append(str(addr))
    return list(dict.fromkeys(found))


def advertised_addresses(lan_host: str) -> list[str]:
    """What to advertise for a LAN API bound to ``lan_host`` (all addresses for a wildcard)."""
    if lan_host in ("", "0.0.0.0", "::"):
        return local_addresses()
    return [lan_host]


class Advertiser:
    """Publishes the node on mDNS. ``start`` → ``update`` (any number) → ``stop``."""

    def __init__(
        self,
        node_name: str,
        port: int,
        *,
        datasets: Sequence[str] = (),
        fingerprint: str | None = None,
        addresses: Sequence[str] | None = None,
        interfaces: InterfacesType = InterfaceChoice.All,
        version: str = PACKAGE_VERSION,
    ) -> None:
        self._name = node_name
        self._port = port
        self._datasets = list(datasets)
        self._fingerprint = fingerprint
        self._addresses = list(addresses) if addresses is not None else None
        self._interfaces = interfaces
        self._version = version
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    @property
    def instance_name(self) -> str | None:
        """The registered service name (may get a suffix if another node has the name)."""
        return self._info.name if self._info is not None else None

    def _service_info(self, instance: str | None = None) -> AsyncServiceInfo:
        addresses = self._addresses if self._addresses is not None else local_addresses()
        label = instance_label(self._name)
        return AsyncServiceInfo(
            SERVICE_TYPE,
            instance or f"{label}.{SERVICE_TYPE}",
            port=self._port,
            properties=build_txt(self._name, self._datasets, self._fingerprint, self._version),
            server=f"{label}-officesync.local.",
            parsed_addresses=addresses,
        )

    async def start(self) -> None:
        self._zc = AsyncZeroconf(interfaces=self._interfaces, ip_version=IPVersion.V4Only)
        self._info = self._service_info()
        task = await self._zc.async_register_service(self._info, allow_name_change=True)
        await task
        log.info("advertising %s on mDNS (port %d)", self._info.name, self._port)

    async def update(
        self,
        *,
        node_name: str | None = None,
        datasets: Sequence[str] | None = None,
        fingerprint: str | None = None,
        port: int | None = None,
    ) -> None:
        """Re-announce with new TXT data (a dataset connected, TLS turned on, renamed)."""
        self._name = node_name if node_name is not None else self._name
        self._datasets = list(datasets) if datasets is not None else self._datasets
        self._fingerprint = fingerprint if fingerprint is not None else self._fingerprint
        self._port = port if port is not None else self._port
        if self._zc is None or self._info is None:
            return
        info = self._service_info(self._info.name)
        task = await self._zc.async_update_service(info)
        await task
        self._info = info

    async def stop(self) -> None:
        """Say goodbye on the network and close the sockets; safe to call twice."""
        zc, info = self._zc, self._info
        self._zc = self._info = None
        if zc is None:
            return
        try:
            if info is not None:
                task = await zc.async_unregister_service(info)
                await task
        finally:
            await zc.async_close()


async def discover(
    timeout: float = 3.0,  # noqa: ASYNC109 - a browsing window, not a deadline
    interfaces: InterfacesType = InterfaceChoice.All,
) -> list[DiscoveredNode]:
    """Nodes answering on the LAN within ``timeout`` seconds, sorted by name."""
    azc = AsyncZeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
    names: set[str] = set()
    pending: set[asyncio.Task[DiscoveredNode | None]] = set()

    async def resolve(zc: Zeroconf, name: str) -> DiscoveredNode | None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(zc, max(timeout, 0.5) * 1000):
            return None
        txt = parse_txt(info.decoded_properties)
        return node_from_txt(name, info.server or "", info.parsed_addresses(), info.port or 0, txt)

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed or name in names:
            return
        names.add(name)
        pending.add(asyncio.ensure_future(resolve(zeroconf, name)))

    browser = AsyncServiceBrowser(azc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        await asyncio.sleep(timeout)  # browsing window: answers arrive during it
        results = await asyncio.gather(*pending, return_exceptions=True) if pending else []
    finally:
        await browser.async_cancel()
        await azc.async_close()
    nodes = [r for r in results if isinstance(r, DiscoveredNode)]
    return sorted(nodes, key=lambda n: (n.name, n.instance))


def _main() -> None:  # pragma: no cover - manual use: python -m agent.discovery
    import json
    from dataclasses import asdict

    for node in asyncio.run(discover()):
        print(json.dumps({**asdict(node), "url": node.url}, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    _main()
