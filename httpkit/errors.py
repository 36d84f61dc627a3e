"""Errors as answers: every error leaves a server as ``{"error": {"code", "message",
"details"}}`` with the code's HTTP status and the message in the request's language.

:func:`error_middleware` is the one place that does it: a :class:`~protocol.errors.
ProtocolError` (or subclass) is answered as it says; an aiohttp ``HTTPException`` (unknown
path, wrong method, body too large…) is worded in our own words; any other exception is logged
once with its traceback and answered 500 ``INTERNAL`` with nothing of it in the body.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from httpkit.bodies import JSON_TYPE, dumps, payload_too_large, unsupported_media_type
from httpkit.language import request_lang, settings_of
from protocol.errors import ErrorCode, ProtocolError, code_for_status
from protocol.i18n import Lang, Text

log = logging.getLogger("officesync.http")


def error_json(err: ProtocolError, lang: Lang) -> web.Response:
    """The answer carrying ``err`` in ``lang`` (also for code outside a request's handler,
    e.g. a request the HTTP parser refused)."""
    return web.Response(body=dumps(err.body(lang)), status=err.status,
                        headers=err.headers or None, content_type=JSON_TYPE)


def error_response(request: web.Request, err: ProtocolError) -> web.Response:
    """The answer carrying ``err`` in the language of ``request``."""
    return error_json(err, request_lang(request))


def _not_found(request: web.Request) -> ProtocolError:
    params: dict[str, Any] = {
        "what": Text(f"đường dẫn {request.path}", f"Path {request.path}")}
    prefix = settings_of(request.app).api_prefix
    if prefix:
        params["hint"] = Text(f". Các đường dẫn của API bắt đầu bằng {prefix}",
                              f" The API's paths start with {prefix}.")
    return ProtocolError(ErrorCode.NOT_FOUND, params, {"path": request.path})


def _method_not_allowed(exc: web.HTTPException, request: web.Request) -> ProtocolError:
    allow = exc.headers.get("Allow", "")
    details = {"method": request.method, "allowed": [m for m in allow.split(",") if m]}
    return ProtocolError(ErrorCode.METHOD_NOT_ALLOWED, {}, details, status=exc.status,
                         headers={"Allow": allow} if allow else {})


def from_http_exception(exc: web.HTTPException, request: web.Request) -> ProtocolError:
    """An aiohttp ``HTTPException`` (status ≥ 400) as one of our errors, in our words."""
    code = code_for_status(exc.status)
    if code is ErrorCode.NOT_FOUND:
        return _not_found(request)
    if code is ErrorCode.METHOD_NOT_ALLOWED:
        return _method_not_allowed(exc, request)
    if code is ErrorCode.PAYLOAD_TOO_LARGE:
        return payload_too_large(request.client_max_size)
    if code is ErrorCode.UNSUPPORTED_MEDIA_TYPE:
        return unsupported_media_type(request.content_type)
    if code is ErrorCode.VALIDATION_FAILED:
        # aiohttp's own reason phrase is English: say it in words of ours instead.
        reason = Text(f"yêu cầu HTTP không hợp lệ (mã {exc.status})",
                      f"the HTTP request is not valid (status {exc.status})")
        return ProtocolError(code, {"reason": reason}, {"status": exc.status},
                             status=exc.status)
    return ProtocolError(code, status=exc.status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Install first (outermost of the app's own middlewares)."""
    try:
        return await handler(request)
    except ProtocolError as err:
        return error_response(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, from_http_exception(exc, request))
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(request, ProtocolError(ErrorCode.INTERNAL))
