"""Finding nodes on the LAN with mDNS / DNS-SD (``officesync ws discover``); the node's side,
the advertiser, is ``agent.discovery``, and what both agree on is ``protocol.discovery``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from zeroconf import InterfaceChoice, InterfacesType, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from protocol.discovery import SERVICE_TYPE


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


def _main() -> None:  # pragma: no cover - manual use: python -m workstation.discovery
    import json
    from dataclasses import asdict

    for node in asyncio.run(discover()):
        print(json.dumps({**asdict(node), "url": node.url}, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    _main()
