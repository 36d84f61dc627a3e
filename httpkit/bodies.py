"""JSON bodies in and out (orjson).

Out: :func:`json_response` (a pydantic model is serialised by pydantic itself, anything else by
orjson, models nested inside included). In: :func:`read_json` refuses another content type
(415 ``UNSUPPORTED_MEDIA_TYPE``), a body over the app's ``client_max_size`` (413
``PAYLOAD_TOO_LARGE``, raised by aiohttp and worded by the error middleware) and a body that
is not JSON (400 ``INVALID_JSON``, saying where it breaks); :func:`read_model` then validates
it, every pydantic error worded per field in both languages by :mod:`protocol.wording`
(422 ``VALIDATION_FAILED``).
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from protocol.errors import ErrorCode, ProtocolError
from protocol.wording import Labeller, json_error, model_error, wire_labeller

M = TypeVar("M", bound=BaseModel)
JSON_TYPE = "application/json"
MIB = 1024 * 1024


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """``obj`` as JSON bytes; pydantic models anywhere inside are dumped in JSON mode."""
    return orjson.dumps(obj, default=_default)


def json_response(
    obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer: ``obj`` is a pydantic model, JSON-able data, or JSON already encoded
    (``bytes``, sent as they are)."""
    if isinstance(obj, bytes):
        body = obj
    elif isinstance(obj, BaseModel):
        body = obj.__pydantic_serializer__.to_json(obj)
    else:
        body = dumps(obj)
    return web.Response(body=body, status=status, headers=headers, content_type=JSON_TYPE)


def is_json_type(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type (``application/merge-patch+json``)."""
    return content_type == JSON_TYPE or content_type.endswith("+json")


def unsupported_media_type(received: str | None = None) -> ProtocolError:
    """415 ``UNSUPPORTED_MEDIA_TYPE``, saying JSON is expected."""
    details: dict[str, Any] = {"expected": JSON_TYPE}
    if received is not None:
        details["received"] = received
    return ProtocolError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, {"expected": JSON_TYPE}, details)


def payload_too_large(limit_bytes: int) -> ProtocolError:
    """413 ``PAYLOAD_TOO_LARGE`` for a body over ``limit_bytes``, worded in MiB (the unit of
    the settings that set it: ``[lan] max_body_mb``)."""
    return ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, {"limit": f"{limit_bytes / MIB:g} MiB"},
                         {"limit_bytes": limit_bytes})


async def read_json(request: web.Request) -> Any:
    """The request body as JSON: 415 for another content type, 413 when larger than the
    request's ``client_max_size``, 400 ``INVALID_JSON`` when malformed."""
    if not is_json_type(request.content_type):
        raise unsupported_media_type(request.content_type)
    raw = await request.read()  # beyond client_max_size: HTTPRequestEntityTooLarge
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        raise json_error(raw, err) from None


def validate(model: type[M], obj: Any, label: Labeller = wire_labeller) -> M:
    """``obj`` as ``model``, or ``VALIDATION_FAILED`` worded per field (protocol.wording)."""
    try:
        return model.model_validate(obj)
    except ValidationError as err:
        raise model_error(err, model, label) from None


async def read_model(request: web.Request, model: type[M]) -> M:
    """The request body as ``model`` (:func:`read_json`, then :func:`validate`)."""
    return validate(model, await read_json(request))
