"""HTTP plumbing shared by the LAN and control APIs: the one error middleware, JSON bodies in
and out (orjson), and ETag / If-Match handling.

Every error leaves the node as ``{"error": {"code", "message", "details"}}`` with the code's
HTTP status; the message language comes from ``Accept-Language`` (vi|en), else the node's
configured language. Unexpected exceptions are logged and answered 500 ``INTERNAL`` with no
trace in the body.
"""

from __future__ import annotations

import logging
import re
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError

from agent import keys
from protocol.errors import ErrorCode, ProtocolError, code_for_status
from protocol.i18n import Lang, pick_language
from protocol.wording import json_error, model_error

log = logging.getLogger("officesync.http")

M = TypeVar("M", bound=BaseModel)
JSON_TYPE = "application/json"



def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj, default=_default)


def json_response(
    obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    if isinstance(obj, BaseModel):
        body = obj.__pydantic_serializer__.to_json(obj)
    else:
        body = dumps(obj)
    return web.Response(body=body, status=status, headers=headers, content_type=JSON_TYPE)


def request_lang(request: web.Request) -> Lang:
    """The message language of this request (Accept-Language, else the node's), computed once."""
    lang = request.get(keys.LANG)
    if lang is None:
        lang = pick_language(request.headers.get("Accept-Language"),
                             request.app[keys.CONTEXT].config.node.language)
        request[keys.LANG] = lang
    return lang


def error_response(request: web.Request, err: ProtocolError) -> web.Response:
    return json_response(
        err.body(request_lang(request)), status=err.status, headers=err.headers or None
    )


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> ProtocolError:
    code = code_for_status(exc.status)
    params: dict[str, Any] = {}
    details: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if code is ErrorCode.NOT_FOUND:
        params = {"what": {"vi": f"đường dẫn {request.path}", "en": f"Path {request.path}"},
                  "hint": {"vi": ". Các đường dẫn của API bắt đầu bằng /api/v1/",
                           "en": " The API's paths start with /api/v1/."}}
        details = {"path": request.path}
    elif code is ErrorCode.METHOD_NOT_ALLOWED:
        allow = exc.headers.get("Allow", "")
        details = {"method": request.method, "allowed": [m for m in allow.split(",") if m]}
        if allow:
            headers["Allow"] = allow
    elif code is ErrorCode.PAYLOAD_TOO_LARGE:
        limit = request.app._client_max_size  # noqa: SLF001 - aiohttp keeps it only here
        params = {"limit": f"{limit / 1048576:g} MiB"}
        details = {"limit_bytes": limit}
    elif code is ErrorCode.VALIDATION_FAILED:
        # aiohttp's own reason phrase is English: say it in words of ours instead.
        params = {"reason": {"vi": f"yêu cầu HTTP không hợp lệ (mã {exc.status})",
                             "en": f"the HTTP request is not valid (status {exc.status})"}}
        details = {"status": exc.status}
    return ProtocolError(code, params, details, status=exc.status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as err:
        return error_response(request, err)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(request, _from_http_exception(exc, request))
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(request, ProtocolError(ErrorCode.INTERNAL))


# --- request bodies ----------------------------------------------------------------------


async def read_json(request: web.Request) -> Any:
    """The request body as JSON: 415 for another content type, 413 when too large, 400 when
    malformed."""
    if request.content_type != JSON_TYPE and not request.content_type.endswith("+json"):
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE,
            {"expected": JSON_TYPE},
            {"expected": JSON_TYPE, "received": request.content_type},
        )
    raw = await request.read()  # raises HTTPRequestEntityTooLarge beyond client_max_size
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise json_error(raw, err) from None


def validation_error(err: ValidationError, model: type[BaseModel] | None = None
                     ) -> ProtocolError:
    """``VALIDATION_FAILED`` worded per field in both languages (protocol.wording)."""
    return model_error(err, model)


async def read_model(request: web.Request, model: type[M]) -> M:
    body = await read_json(request)
    try:
        return model.model_validate(body)
    except ValidationError as err:
        raise validation_error(err, model) from None


# --- ETag / If-Match ---------------------------------------------------------------------

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


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
