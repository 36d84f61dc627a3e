"""Pairing a workstation with a node: which node (an address, or one found with mDNS), and
which certificate to pin when the node's LAN API uses TLS.

Trust is by fingerprint (there is no CA on an office LAN, see :mod:`workstation.tls`):

- a fingerprint given with ``--fingerprint`` or advertised in the node's mDNS TXT record is
  checked at the first connection (``aiohttp.Fingerprint``): another certificate fails pairing;
- without one, the first contact (``GET /api/v1/info`` only, no secret sent) is made without
  certificate verification — trust on first use — and the fingerprint the node states there is
  pinned for the pairing request itself, so a certificate that is not the stated one fails too.

An address typed as ``host:port`` means ``http://host:port``; when pairing fails and the
address turns out to be a hub (``/v1/health`` says ``officesync-hub``), the error says so.

The chosen fingerprint goes into the profile; every later command is pinned to it. The pure
parts (:func:`pick_node`, :func:`pair_target`) are tested without a network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from protocol.address import identify, normalize_url
from protocol.discovery import instance_label
from protocol.errors import ErrorCode
from protocol.i18n import Lang
from protocol.models import PairResponse
from workstation.client import FINGERPRINT_MISMATCH, WorkstationClient, WorkstationError
from workstation.discovery import DiscoveredNode
from workstation.messages import LocalError
from workstation.tls import normalize_fingerprint


@dataclass(frozen=True)
class PairTarget:
    """Where to pair and the fingerprint to pin (``None``: plain http, or trust on first use)."""

    url: str
    fingerprint: str | None

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "https"


@dataclass(frozen=True)
class Paired:
    answer: PairResponse
    url: str
    fingerprint: str | None  # the pinned one (64 lowercase hex digits), None without TLS


def describe(nodes: Sequence[DiscoveredNode]) -> str:
    """``"name (url), name (url)"`` for messages that list what was found."""
    return ", ".join(f"{n.name} ({n.url})" for n in nodes)


def _matches(node: DiscoveredNode, name: str) -> bool:
    wanted = name.casefold()
    return wanted in (node.name.casefold(), instance_label(node.name).casefold())


def pick_node(
    nodes: Sequence[DiscoveredNode], name: str | None, timeout: float = 0.0
) -> DiscoveredNode:
    """The node to pair with: the only one found, or the one named ``name`` (its advertised
    name, case-insensitive, or its DNS-SD label). Raises :class:`LocalError` with the list of
    nodes found when there is none, no such name, or more than one candidate."""
    if not nodes:
        raise LocalError("no_nodes", timeout=f"{timeout:g}")
    candidates = list(nodes) if not name else [n for n in nodes if _matches(n, name)]
    if not candidates:
        raise LocalError("node_not_found", name=name, found=describe(nodes))
    if len(candidates) > 1:
        raise LocalError("ambiguous_node", found=describe(candidates))
    return candidates[0]


def node_json(node: DiscoveredNode) -> dict[str, Any]:
    """One line of ``ws discover --json``."""
    return {
        "name": node.name, "url": node.url, "version": node.version,
        "protocol": node.protocol, "datasets": list(node.datasets), "tls": node.tls,
        "fingerprint": node.fingerprint, "host": node.host,
        "addresses": list(node.addresses), "port": node.port,
    }


def _normalized(fingerprint: str | None) -> str | None:
    if not fingerprint:
        return None
    try:
        return normalize_fingerprint(fingerprint.removeprefix("sha256/"))
    except ValueError:
        raise LocalError("bad_fingerprint", value=fingerprint) from None


def pair_target(
    node_url: str | None, found: DiscoveredNode | None, fingerprint: str | None
) -> PairTarget:
    """Validate the options of ``ws pair`` (exactly one of ``node_url`` / ``found``)."""
    if (node_url is None) == (found is None):
        raise LocalError("node_or_discover")
    given = _normalized(fingerprint)
    if found is not None:
        advertised = _normalized(found.fingerprint)
        if given and advertised and given != advertised:
            raise LocalError("fingerprint_conflict", name=found.name, advertised=advertised)
        target = PairTarget(found.url, given or advertised)
    else:
        assert node_url is not None
        url = normalize_url(node_url)
        if url is None:
            raise LocalError("bad_url", url=node_url)
        target = PairTarget(url, given)
    if target.fingerprint and not target.tls:
        raise LocalError("fingerprint_needs_https", url=target.url)
    return target


async def first_contact_fingerprint(url: str, language: Lang | None) -> str:
    """Trust on first use: the fingerprint the node states on ``/info``, read without
    certificate verification (nothing secret is sent on this connection)."""
    async with WorkstationClient(url, language=language, verify_certificate=False) as client:
        info = await client.info()
    try:
        return normalize_fingerprint(str(info.get("tls_fingerprint") or ""))
    except ValueError:
        raise LocalError("no_tls_fingerprint", url=url) from None


async def pair(target: PairTarget, code: str, name: str, language: Lang | None) -> Paired:
    """Pair with the node at ``target``, pinned to its certificate when it uses TLS. When the
    address answers as an OfficeSync hub instead, :class:`LocalError` ``is_hub`` says so."""
    try:
        return await _pair(target, code, name, language)
    except WorkstationError as err:
        if err.code is not ErrorCode.PAIRING_CODE_INVALID and await identify(target.url) == "hub":
            raise LocalError("is_hub", url=target.url) from err
        raise


async def _pair(target: PairTarget, code: str, name: str, language: Lang | None) -> Paired:
    pin = target.fingerprint
    if target.tls and pin is None:
        pin = await first_contact_fingerprint(target.url, language)
    try:
        async with WorkstationClient(target.url, language=language, fingerprint=pin) as client:
            if target.tls:
                await client.info()  # the pinned certificate is checked before the code is sent
            answer = await client.pair(code, name)
    except WorkstationError as err:
        if err.details.get("reason") == FINGERPRINT_MISMATCH:
            raise LocalError("pair_fingerprint_mismatch", url=target.url,
                             got=err.details["got"], expected=err.details["expected"]) from err
        raise
    return Paired(answer, target.url, pin)
