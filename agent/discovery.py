"""mDNS / DNS-SD, the node's side: it advertises itself on the LAN so workstations find it
without typing an address (``officesync ws discover``, in ``workstation.discovery``). The
service type and TXT keys both sides agree on are in ``protocol.discovery``.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

import ifaddr
from zeroconf import InterfaceChoice, InterfacesType, IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from protocol.discovery import SERVICE_TYPE, TXT_VALUE_MAX, instance_label
from protocol.version import PACKAGE_VERSION, PROTOCOL_VERSION

log = logging.getLogger("officesync.discovery")


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
