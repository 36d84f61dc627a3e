"""Bearer tokens (``Authorization: Bearer <token>``, RFC 6750): the one parser of the header."""

from __future__ import annotations

from aiohttp import web


def parse_bearer(header: str | None) -> str | None:
    """The token of an ``Authorization`` value, or None when it is not a Bearer token (the
    scheme is case-insensitive; surrounding spaces are dropped; an empty token is none)."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def bearer_token(request: web.BaseRequest) -> str | None:
    """The request's Bearer token, None when it has none."""
    return parse_bearer(request.headers.get("Authorization"))
