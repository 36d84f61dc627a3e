"""The HTTP kit shared by every server of the product (the node's LAN and control APIs, the
hub): one error middleware, JSON bodies in and out, the Bearer token, the answer's language.

It builds on aiohttp, orjson, pydantic and :mod:`protocol` only (never ``agent`` or ``hub``),
so each server gets the same behaviour at its seams:

- errors leave as ``{"error": {"code", "message", "details"}}`` with the code's status
  (:mod:`httpkit.errors`); unexpected exceptions as 500 ``INTERNAL``, logged, no trace;
- bodies are JSON, limited by the app's ``client_max_size`` and validated against pydantic
  models with every problem worded per field (:mod:`httpkit.bodies`);
- messages are in ``vi`` or ``en`` from ``Accept-Language``, else the server's default set by
  :func:`configure` (:mod:`httpkit.language`).

A server calls :func:`configure` once and installs :data:`error_middleware` first::

    app = web.Application(client_max_size=8 * MIB)
    configure(app, language=lambda: config.language, api_prefix="/api/v1/")
    app.middlewares.append(error_middleware)
"""

from __future__ import annotations

from httpkit.auth import bearer_token, parse_bearer
from httpkit.bodies import (
    JSON_TYPE,
    MIB,
    dumps,
    is_json_type,
    json_response,
    payload_too_large,
    read_json,
    read_model,
    unsupported_media_type,
    validate,
)
from httpkit.errors import error_json, error_middleware, error_response, from_http_exception
from httpkit.language import HttpSettings, configure, request_lang, settings_of

__all__ = [
    "JSON_TYPE",
    "MIB",
    "HttpSettings",
    "bearer_token",
    "configure",
    "dumps",
    "error_json",
    "error_middleware",
    "error_response",
    "from_http_exception",
    "is_json_type",
    "json_response",
    "parse_bearer",
    "payload_too_large",
    "read_json",
    "read_model",
    "request_lang",
    "settings_of",
    "unsupported_media_type",
    "validate",
]
