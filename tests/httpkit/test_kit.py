"""The HTTP kit on its own: a small aiohttp app built only from httpkit (no node, no hub)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, Field

import httpkit
from httpkit import (
    MIB,
    bearer_token,
    configure,
    error_json,
    error_middleware,
    json_response,
    parse_bearer,
    read_json,
    read_model,
    request_lang,
)
from protocol.errors import ErrorCode, ProtocolError
from protocol.i18n import Lang

Client = TestClient[Any, Any]
ClientFactory = Callable[..., Awaitable[Client]]


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int


class Answer(BaseModel):
    item: Item
    ok: bool = True


async def domain(request: web.Request) -> web.Response:
    raise ProtocolError(ErrorCode.RATE_LIMITED, {"retry_after": 7}, {"retry_after": 7},
                        headers={"Retry-After": "7"})


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/elsewhere")


async def unsupported(request: web.Request) -> web.Response:
    raise web.HTTPUnsupportedMediaType()


async def echo_json(request: web.Request) -> web.Response:
    return json_response({"got": await read_json(request)})


async def echo_item(request: web.Request) -> web.Response:
    item = await read_model(request, Item)
    return json_response(Answer(item=item), status=201)


async def nested(request: web.Request) -> web.Response:
    return json_response({"items": [Item(name="a", count=1)]})


async def raw(request: web.Request) -> web.Response:
    return json_response(b'{"already": "json"}')


async def languages(request: web.Request) -> web.Response:
    return json_response({"first": request_lang(request), "again": request_lang(request)})


async def token(request: web.Request) -> web.Response:
    return json_response({"token": bearer_token(request)})


def make_app(language: Lang | Callable[[], Lang] = "vi", api_prefix: str | None = "/api/",
             client_max_size: int = MIB // 2) -> web.Application:
    app = web.Application(client_max_size=client_max_size, middlewares=[error_middleware])
    configure(app, language=language, api_prefix=api_prefix)
    app.router.add_get("/api/domain", domain)
    app.router.add_get("/api/boom", boom)
    app.router.add_get("/api/redirect", redirect)
    app.router.add_get("/api/unsupported", unsupported)
    app.router.add_post("/api/json", echo_json)
    app.router.add_post("/api/item", echo_item)
    app.router.add_get("/api/nested", nested)
    app.router.add_get("/api/raw", raw)
    app.router.add_get("/api/lang", languages)
    app.router.add_get("/api/token", token)
    return app


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> Client:
    return await aiohttp_client(make_app())


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


# --- errors ------------------------------------------------------------------------------


async def test_domain_error_keeps_code_status_details_headers_and_language(
    client: Client,
) -> None:
    resp = await client.get("/api/domain")
    error = await error_of(resp, 429)
    assert error == {"code": "RATE_LIMITED", "details": {"retry_after": 7},
                     "message": "Quá nhiều yêu cầu, vui lòng thử lại sau 7 giây"}
    assert resp.headers["Retry-After"] == "7"
    resp = await client.get("/api/domain", headers={"Accept-Language": "fr, en-GB;q=0.8"})
    assert (await error_of(resp, 429))["message"] == "Too many requests, try again in 7 seconds."


async def test_unexpected_exception_is_internal_500_logged_once_without_trace(
    client: Client, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR):
        resp = await client.get("/api/boom", headers={"Accept-Language": "en"})
        error = await error_of(resp, 500)
    assert error["code"] == "INTERNAL" and error["details"] == {}
    assert error["message"] == "Internal error. Send the service's log to support."
    text = await resp.text()
    assert "secret" not in text and "Traceback" not in text
    logged = [r for r in caplog.records if r.exc_info and "secret internal detail"
              in str(r.exc_info[1])]
    assert len(logged) == 1 and logged[0].name == "officesync.http"


async def test_unknown_path_names_the_api_prefix_when_configured(
    aiohttp_client: ClientFactory,
) -> None:
    with_hint = await aiohttp_client(make_app(api_prefix="/api/"))
    error = await error_of(await with_hint.get("/nope"), 404)
    assert error == {"code": "NOT_FOUND", "details": {"path": "/nope"},
                     "message": "Không tìm thấy đường dẫn /nope. Các đường dẫn của API bắt "
                                "đầu bằng /api/"}
    plain = await aiohttp_client(make_app(api_prefix=None))
    error = await error_of(await plain.get("/nope", headers={"Accept-Language": "en"}), 404)
    assert error["message"] == "Path /nope not found."


async def test_wrong_method_lists_the_allowed_ones(client: Client) -> None:
    resp = await client.delete("/api/item")
    error = await error_of(resp, 405)
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert error["details"] == {"method": "DELETE", "allowed": ["POST"]}
    assert resp.headers["Allow"] == "POST"


async def test_http_exceptions_below_400_pass_through(client: Client) -> None:
    resp = await client.get("/api/redirect", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/elsewhere"


async def test_aiohttp_415_says_what_is_expected(client: Client) -> None:
    error = await error_of(await client.get("/api/unsupported"), 415)
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert error["message"] == "Kiểu nội dung không được hỗ trợ (cần application/json)"


def test_error_json_builds_the_body_without_a_request() -> None:
    resp = error_json(ProtocolError(ErrorCode.FORBIDDEN, details={"why": "x"}), "en")
    assert resp.status == 403 and resp.content_type == "application/json"
    assert resp.body == (b'{"error":{"code":"FORBIDDEN","message":"You are not allowed to do '
                         b'this.","details":{"why":"x"}}}')


# --- language ----------------------------------------------------------------------------


async def test_language_default_is_read_at_each_request_and_chosen_once(
    aiohttp_client: ClientFactory,
) -> None:
    calls: list[Lang] = []
    current: list[Lang] = ["en"]

    def default() -> Lang:
        calls.append(current[0])
        return current[0]

    client = await aiohttp_client(make_app(language=default))
    assert await (await client.get("/api/lang")).json() == {"first": "en", "again": "en"}
    assert calls == ["en"]  # once per request, not per call
    current[0] = "vi"  # e.g. the node's language changed in its config
    assert (await (await client.get("/api/lang")).json())["first"] == "vi"
    answer = await client.get("/api/lang", headers={"Accept-Language": "en;q=0.4, vi;q=0.9"})
    assert (await answer.json())["first"] == "vi"


async def test_an_app_without_settings_speaks_vietnamese(aiohttp_client: ClientFactory) -> None:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/lang", languages)
    client = await aiohttp_client(app)
    assert (await (await client.get("/lang")).json())["first"] == "vi"
    en = await client.get("/lang", headers={"Accept-Language": "en-US"})
    assert (await en.json())["first"] == "en"


# --- bodies ------------------------------------------------------------------------------


async def test_json_in_and_out(client: Client) -> None:
    resp = await client.post("/api/json", json={"a": [1, "hai"]})
    assert resp.status == 200 and await resp.json() == {"got": {"a": [1, "hai"]}}
    resp = await client.post("/api/json", data=b'{"patch": true}',
                             headers={"Content-Type": "application/merge-patch+json"})
    assert await resp.json() == {"got": {"patch": True}}
    assert await (await client.get("/api/nested")).json() == {
        "items": [{"name": "a", "count": 1}]}
    resp = await client.get("/api/raw")
    assert resp.content_type == "application/json" and await resp.text() == '{"already": "json"}'


async def test_another_content_type_is_415(client: Client) -> None:
    resp = await client.post("/api/json", data=b"a=1",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    error = await error_of(resp, 415)
    assert error["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert error["details"] == {"expected": "application/json",
                                "received": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("body", "reason_en"), [
    (b"", "the body is empty"),
    (b'{"a": 1,\n "b": }', "a syntax error or a cut-off body at line 2, column 7"),
    (b'{"a": "\xff"}', "the body is not UTF-8 text"),
])
async def test_malformed_json_is_400_in_words(client: Client, body: bytes, reason_en: str
                                              ) -> None:
    resp = await client.post("/api/json", data=body, headers={
        "Content-Type": "application/json", "Accept-Language": "en"})
    error = await error_of(resp, 400)
    assert error["code"] == "INVALID_JSON"
    assert error["message"] == f"The request body is not valid JSON: {reason_en}"


async def test_body_over_client_max_size_is_413_with_the_limit(client: Client) -> None:
    resp = await client.post("/api/json", data=b'"' + b"x" * (MIB // 2) + b'"',
                             headers={"Content-Type": "application/json"})
    error = await error_of(resp, 413)
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert error["details"] == {"limit_bytes": MIB // 2}
    assert error["message"] == "Dữ liệu gửi lên quá lớn (tối đa 0.5 MiB)"


async def test_read_model_validates_and_words_every_field(client: Client) -> None:
    resp = await client.post("/api/item", json={"name": "", "count": "many"},
                             headers={"Accept-Language": "en"})
    error = await error_of(resp, 422)
    assert error["code"] == "VALIDATION_FAILED"
    assert error["details"] == {"errors": [{"field": "name", "type": "string_too_short"},
                                           {"field": "count", "type": "int_parsing"}]}
    assert error["message"] == ("Invalid data: Name must not be empty; Count must be a whole "
                                "number")
    vi = await error_of(await client.post("/api/item", json={"count": 1}), 422)
    assert vi["message"] == "Dữ liệu không hợp lệ: Tên là bắt buộc, chưa được nhập"
    ok = await client.post("/api/item", json={"name": "Bút", "count": 2})
    assert ok.status == 201
    assert await ok.json() == {"item": {"name": "Bút", "count": 2}, "ok": True}


# --- bearer tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("Bearer abc.def", "abc.def"),
    ("bearer   abc  ", "abc"),
    ("BEARER abc", "abc"),
    ("Bearer", None),
    ("Bearer    ", None),
    ("Basic dXNlcjpwYXNz", None),
    ("Bearerabc", None),
    ("", None),
    (None, None),
])
def test_parse_bearer(header: str | None, expected: str | None) -> None:
    assert parse_bearer(header) == expected


async def test_bearer_token_of_a_request(client: Client) -> None:
    resp = await client.get("/api/token", headers={"Authorization": "Bearer t0k"})
    assert await resp.json() == {"token": "t0k"}
    assert await (await client.get("/api/token")).json() == {"token": None}


def test_the_kit_exports_what_it_documents() -> None:
    assert set(httpkit.__all__) <= set(dir(httpkit))
