"""What a person types for an address, and what answers there.

:func:`normalize_url` accepts ``host:port`` (adds ``http://``) and refuses what cannot be an
OfficeSync address; :func:`identify` asks the address whether it is a hub
(``GET /v1/health`` says ``service: officesync-hub``) or a node (``GET /api/v1/info`` has the
node's name, protocol and datasets), so a command used against the wrong one can say so. The
identification sends no secret and does not verify a certificate (it decides a message only).
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp

Service = Literal["hub", "node"]
IDENTIFY_TIMEOUT_S = 3.0


def normalize_url(raw: str) -> str | None:
    """``host:port`` and ``host`` become ``http://host:port``; an ``http(s)://`` URL is kept
    (without its trailing ``/``); anything else (another scheme, no host, spaces) is ``None``."""
    value = raw.strip()
    if not value or any(c.isspace() for c in value):
        return None
    if "://" not in value:
        value = "http://" + value
    scheme, _, rest = value.partition("://")
    host = rest.split("/", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or host.startswith(":"):
        return None
    return f"{scheme.lower()}://{rest}".rstrip("/")


async def _json(session: aiohttp.ClientSession, url: str) -> Any:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                return None
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError, RuntimeError, OSError):
        return None


def _is_hub(health: Any) -> bool:
    return isinstance(health, dict) and health.get("service") == "officesync-hub"


def _is_node(info: Any) -> bool:
    return isinstance(info, dict) and {"name", "protocol", "datasets"} <= info.keys()


async def identify(url: str, timeout: float = IDENTIFY_TIMEOUT_S) -> Service | None:  # noqa: ASYNC109
    """``"hub"``, ``"node"`` or ``None`` (nothing answers, or something else does)."""
    base = url.rstrip("/")
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout),
        connector=aiohttp.TCPConnector(ssl=False),
    ) as session:
        if _is_hub(await _json(session, base + "/v1/health")):
            return "hub"
        if _is_node(await _json(session, base + "/api/v1/info")):
            return "node"
    return None
