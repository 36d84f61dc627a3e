"""The LAN API's own HTTP conventions on top of :mod:`httpkit`: a record's revision as its
``ETag``, and the ``If-Match`` header every write must carry."""

from __future__ import annotations

import re

from aiohttp import web

from protocol.errors import ErrorCode, ProtocolError

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def etag(local_rev: int) -> str:
    return f'"{local_rev}"'


def if_match(request: web.Request) -> int:
    """The revision a write is based on, from ``If-Match`` (``"7"``, ``7`` or ``W/"7"``)."""
    value = request.headers.get("If-Match")
    match = _IF_MATCH.match(value) if value else None
    if match is None:
        raise ProtocolError(
            ErrorCode.PRECONDITION_REQUIRED, details={"if_match": value} if value else {}
        )
    return int(match.group(1))
