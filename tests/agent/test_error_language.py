"""Every error path of the LAN API speaks the request's language, in words.

Each case is sent twice (``Accept-Language: vi`` and ``en``). The test fails on a library's
sentence anywhere in the body ("Input should…", a regex, a parser's position text), on English
words inside a Vietnamese message, and on Vietnamese inside an English one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.app import NodeContext
from protocol.models import SyncState
from tests.agent.conftest import DATASET, AppClient

API = "/api/v1"
BASE = f"{API}/datasets/{DATASET}/records"
LIBRARY_PHRASES = (
    "Input should", "String should", "Field required", "Value error", "validation error",
    "pydantic", "Traceback", "JSON decode", "Extra inputs", "unexpected character",
    "line 1 column", "Bad Request", "Not Found", "Method Not Allowed", "Entity Too Large",
    "Unprocessable", "errors.pydantic", "should match pattern", "[0-9a-f]", "^", "{8}",
    "invalid character", "is not valid UTF-8", "char 0",
)
# English words our Vietnamese templates must never contain. Identifiers a message may name
# (collections, fields such as number or code, sync_state, JSON, If-Match, YYYY-MM-DD) and
# record values are not in this list.
ENGLISH = frozenset(  # a word list reads best as one string:
    "the is are must should be not found invalid required field value input valid expected "  # noqa: SIM905
    "error string integer whole list object missing and or of to with has have at least "
    "most please check again already exists unknown too large body request cannot does was "
    "this that an for from than greater less text such one allowed here empty workstation"
    .split()
)
# Values the API itself defines may be named in any language: sync states (error, pending…).
IDENTIFIERS = frozenset(state.value for state in SyncState)
VI_CHARS = re.compile(r"[À-ỹ]")  # Latin letters with diacritics: Vietnamese in an answer


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    code: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    auth: bool = True
    contains: dict[str, str] = field(default_factory=dict)  # lang -> text the message holds


def _english_words(message: str) -> list[str]:
    return [w for w in re.findall(r"\w+", message) if w.lower() in ENGLISH - IDENTIFIERS]


def _json(data: Any, **headers: str) -> dict[str, Any]:
    return {"json": data, "headers": headers} if headers else {"json": data}


def _raw(body: bytes) -> dict[str, Any]:
    return {"data": body, "headers": {"Content-Type": "application/json"}}


@pytest.fixture
async def setup(lan: AppClient, auth: dict[str, str]) -> dict[str, Any]:
    async def create(collection: str, data: dict[str, Any]) -> dict[str, Any]:
        resp = await lan.post(f"{BASE}/{collection}", json={"data": data}, headers=auth)
        assert resp.status == 201, await resp.text()
        return {**(await resp.json()), "etag": resp.headers["ETag"]}

    customer = await create("customers", {"code": "KH001", "name": "Cong ty A"})
    debit = await create("accounts", {"number": "111", "name": "Tien mat"})
    credit = await create("accounts", {"number": "131", "name": "Phai thu"})
    voucher = await create("vouchers", {
        "type": "receipt", "number": "PT000001", "date": "2026-01-05",
        "lines": [{"debit": debit["id"], "credit": credit["id"], "amount": 1000}]})
    return {"customer": customer, "debit": debit["id"], "credit": credit["id"],
            "voucher": voucher}


def _cases(s: dict[str, Any]) -> list[Case]:
    cust, vch = s["customer"], s["voucher"]
    one, vone = f"{BASE}/customers/{cust['id']}", f"{BASE}/vouchers/{vch['id']}"
    line = {"debit": s["debit"], "credit": s["credit"], "amount": 1000}

    def voucher(**changes: Any) -> dict[str, Any]:
        return {"data": {"type": "receipt", "date": "2026-01-05", "lines": [line], **changes}}

    def lines(**changes: Any) -> dict[str, Any]:
        return voucher(lines=[{**line, **changes}])

    stale = {"If-Match": '"99"'}
    return [
        # authentication and routing
        Case("no token", "GET", f"{API}/datasets", 401, "UNAUTHORIZED", auth=False),
        Case("bad token", "GET", f"{API}/datasets", 401, "UNAUTHORIZED", auth=False,
             kwargs={"headers": {"Authorization": "Bearer nope"}}),
        Case("events without token", "GET", f"{API}/events", 401, "UNAUTHORIZED", auth=False),
        Case("unknown path", "GET", f"{API}/nope", 404, "NOT_FOUND"),
        Case("wrong method", "PATCH", f"{BASE}/customers", 405, "METHOD_NOT_ALLOWED"),
        Case("unknown dataset", "GET", f"{API}/datasets/nope/records/customers", 404,
             "DATASET_NOT_FOUND", contains={"vi": "Máy chủ này có: cty-abc",
                                            "en": "This node has: cty-abc."}),
        Case("unknown dataset sync", "GET", f"{API}/datasets/nope/sync", 404,
             "DATASET_NOT_FOUND"),
        Case("unknown dataset issues", "GET", f"{API}/datasets/nope/sync/issues", 404,
             "DATASET_NOT_FOUND"),
        Case("unknown dataset sync now", "POST", f"{API}/datasets/nope/sync", 404,
             "DATASET_NOT_FOUND"),
        Case("unknown collection", "GET", f"{BASE}/customer", 404, "NOT_FOUND",
             contains={"vi": "customers", "en": "Did you mean customers?"}),
        # pairing
        Case("pair bad json", "POST", f"{API}/pair", 400, "INVALID_JSON", auth=False,
             kwargs=_raw(b'{"code": ')),
        Case("pair missing fields", "POST", f"{API}/pair", 422, "VALIDATION_FAILED",
             auth=False, kwargs=_json({}), contains={"vi": "bắt buộc", "en": "is required"}),
        Case("pair wrong types", "POST", f"{API}/pair", 422, "VALIDATION_FAILED", auth=False,
             kwargs=_json({"code": 123456, "name": ["x"]})),
        Case("pair wrong code", "POST", f"{API}/pair", 403, "PAIRING_CODE_INVALID",
             auth=False, kwargs=_json({"code": "000000", "name": "ws"})),
        # list filters
        Case("limit zero", "GET", f"{BASE}/customers?limit=0", 422, "VALIDATION_FAILED"),
        Case("limit full-width", "GET", f"{BASE}/customers?limit=１０", 422,
             "VALIDATION_FAILED"),
        Case("date with slashes", "GET", f"{BASE}/vouchers?date_from=01/12/2026", 422,
             "VALIDATION_FAILED", contains={"vi": "YYYY-MM-DD", "en": "YYYY-MM-DD"}),
        Case("date with time", "GET", f"{BASE}/vouchers?date_to=2026-01-01T00:00", 422,
             "VALIDATION_FAILED"),
        Case("bad sync state", "GET", f"{BASE}/customers?sync_state=lost", 422,
             "VALIDATION_FAILED"),
        Case("bad cursor", "GET", f"{BASE}/customers?after=%%%", 422, "VALIDATION_FAILED"),
        # create bodies
        Case("not json type", "POST", f"{BASE}/customers", 415, "UNSUPPORTED_MEDIA_TYPE",
             kwargs={"data": b"{}"}),
        Case("bad json", "POST", f"{BASE}/customers", 400, "INVALID_JSON",
             kwargs=_raw(b'{"data": {')),
        Case("empty body", "POST", f"{BASE}/customers", 400, "INVALID_JSON",
             kwargs=_raw(b"")),
        Case("not utf-8", "POST", f"{BASE}/customers", 400, "INVALID_JSON",
             kwargs=_raw(b'{"data": "\xff"}')),
        Case("body is a list", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json([1, 2])),
        Case("extra top field", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "KH9", "name": "x"}, "extra": 1})),
        Case("data missing", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({})),
        Case("data not object", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": "KH9"})),
        Case("id not uuid", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"id": "KH9", "data": {"code": "KH9", "name": "x"}})),
        Case("id already used", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"id": cust["id"], "data": {"code": "KH9", "name": "x"}})),
        Case("name missing", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "KH9"}}),
             contains={"vi": "Tên khách hàng", "en": "Customer name"}),
        Case("unknown data field", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "KH9", "name": "x", "fax": "1"}}),
             contains={"vi": "fax", "en": "fax"}),
        Case("code too long", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "K" * 51, "name": "x"}})),
        Case("code is a number", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": 1, "name": "x"}})),
        Case("code with zero-width space", "POST", f"{BASE}/customers", 422,
             "VALIDATION_FAILED", kwargs=_json({"data": {"code": "KH2\u200b", "name": "x"}}),
             contains={"vi": "U+200B", "en": "U+200B"}),
        Case("code with NUL", "POST", f"{BASE}/customers", 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "KH\u00002", "name": "x"}})),
        Case("duplicate in lower case", "POST", f"{BASE}/customers", 409, "DUPLICATE_KEY",
             kwargs=_json({"data": {"code": "kh001", "name": "x"}})),
        Case("duplicate full-width", "POST", f"{BASE}/customers", 409, "DUPLICATE_KEY",
             kwargs=_json({"data": {"code": "ＫＨ００１", "name": "x"}})),
        # A code where an id goes is resolved (tests/agent/store/test_references_by_code.py);
        # an unknown one is refused naming it.
        Case("unknown code where an id goes", "POST", f"{BASE}/sales_orders", 409,
             "MISSING_REFERENCE",
             kwargs=_json({"data": {"number": "DH1", "date": "2026-01-05",
                                    "customer": "KH404"}}),
             contains={"vi": "Không tìm thấy Khách hàng KH404 (Khách hàng)",
                       "en": "Customer KH404 was not found (Customer)"}),
        Case("missing reference", "POST", f"{BASE}/sales_orders", 409, "MISSING_REFERENCE",
             kwargs=_json({"data": {"number": "DH1", "date": "2026-01-05",
                                    "customer": str(uuid.uuid4())}})),
        Case("date dd/mm/yyyy", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(date="01/12/2026")),
             contains={"vi": "Ngày chứng từ phải có dạng YYYY-MM-DD, ví dụ 2026-12-01",
                       "en": "Voucher date must be a date YYYY-MM-DD, e.g. 2026-12-01"}),
        Case("date with a time", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(date="2026-01-01T00:00"))),
        Case("date not in the calendar", "POST", f"{BASE}/vouchers", 422,
             "VALIDATION_FAILED", kwargs=_json(voucher(date="2026-02-30"))),
        Case("date as a number", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(date=20260105))),
        Case("unknown voucher type", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(type="gift"))),
        Case("posted as text", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(posted="yes"))),
        Case("created posted", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(number="PT000009", posted=True))),
        Case("no lines", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(lines=[]))),
        Case("lines not a list", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(lines={"debit": s["debit"]}))),
        Case("line not an object", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(voucher(lines=[1]))),
        Case("amount true", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount=True)),
             contains={"vi": "Số tiền (dòng 1)", "en": "Amount (line 1)"}),
        Case("amount exponent", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount="1e999999999"))),
        Case("amount full-width", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount="１２３"))),
        Case("amount 2^63", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount=2**63))),
        Case("amount float", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount=12.5))),
        Case("amount zero", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(amount=0))),
        Case("amount too many decimals", "POST", f"{BASE}/vouchers", 422,
             "VALIDATION_FAILED", kwargs=_json(lines(amount="1.1234567"))),
        Case("quantity negative", "POST", f"{BASE}/vouchers", 422, "VALIDATION_FAILED",
             kwargs=_json(lines(quantity="-1"))),
        Case("debit an unknown code", "POST", f"{BASE}/vouchers", 409, "MISSING_REFERENCE",
             kwargs=_json(lines(debit="999")),
             contains={"vi": "Không tìm thấy Tài khoản 999 (Tài khoản nợ)",
                       "en": "Account 999 was not found (Debit account)"}),
        Case("oversized body", "POST", f"{BASE}/customers", 413, "PAYLOAD_TOO_LARGE",
             kwargs=_json({"data": {"code": "KH9", "name": "x" * 60_000}})),
        # one record
        Case("code in the path", "GET", f"{BASE}/customers/KH001", 404, "NOT_FOUND",
             contains={"vi": f"KH001 là mã của khách hàng Cong ty A (id {cust['id']})",
                       "en": f"KH001 is the code of the customer Cong ty A (id {cust['id']})"}),
        Case("unknown id", "GET", f"{BASE}/customers/{uuid.uuid4()}", 404, "NOT_FOUND"),
        Case("update without If-Match", "PUT", one, 428, "PRECONDITION_REQUIRED",
             kwargs=_json({"data": {"code": "KH001", "name": "B"}})),
        Case("update with bad If-Match", "PUT", one, 428, "PRECONDITION_REQUIRED",
             kwargs=_json({"data": {"code": "KH001", "name": "B"}}, **{"If-Match": "abc"})),
        Case("update stale", "PUT", one, 409, "STALE_LOCAL_COPY",
             kwargs=_json({"data": {"code": "KH001", "name": "B"}}, **stale)),
        Case("update other id", "PUT", one, 422, "VALIDATION_FAILED",
             kwargs=_json({"id": str(uuid.uuid4()), "data": {"code": "KH001", "name": "B"}},
                          **{"If-Match": cust["etag"]})),
        Case("update bad data", "PUT", one, 422, "VALIDATION_FAILED",
             kwargs=_json({"data": {"code": "", "name": "B"}}, **{"If-Match": cust["etag"]})),
        Case("update code in path", "PUT", f"{BASE}/customers/KH001", 404, "NOT_FOUND",
             kwargs=_json({"data": {"code": "KH001", "name": "B"}}, **{"If-Match": '"1"'})),
        Case("delete without If-Match", "DELETE", one, 428, "PRECONDITION_REQUIRED"),
        Case("delete stale", "DELETE", one, 409, "STALE_LOCAL_COPY",
             kwargs={"headers": stale}),
        Case("post a customer", "POST", one + "/post", 422, "VALIDATION_FAILED",
             kwargs={"headers": {"If-Match": cust["etag"]}}),
        Case("unpost an unposted voucher", "POST", vone + "/unpost", 422,
             "VALIDATION_FAILED", kwargs={"headers": {"If-Match": vch["etag"]}}),
        Case("post stale", "POST", vone + "/post", 409, "STALE_LOCAL_COPY",
             kwargs={"headers": stale}),
        Case("resolve bad action", "POST", one + "/resolve", 422, "VALIDATION_FAILED",
             kwargs=_json({"action": "obliterate"}),
             contains={"vi": "link_existing", "en": "link_existing"}),
        Case("resolve nothing to resolve", "POST", one + "/resolve", 422,
             "VALIDATION_FAILED", kwargs=_json({"action": "take_cloud"})),
    ]


def check_body(case: Case, lang: str, body: dict[str, Any], text: str) -> None:
    assert set(body) == {"error"}, (case.name, body)
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, (case.name, error)
    assert error["code"] == case.code, (case.name, error)
    message = error["message"]
    for phrase in LIBRARY_PHRASES:
        assert phrase not in text, (case.name, lang, phrase, text)
    if lang == "vi":
        assert VI_CHARS.search(message), (case.name, "not Vietnamese", message)
        assert not _english_words(message), (case.name, _english_words(message), message)
    else:
        assert not VI_CHARS.search(message), (case.name, "Vietnamese in English", message)
    if lang in case.contains:
        assert case.contains[lang] in message, (case.name, lang, message)


async def test_every_error_path_speaks_the_request_language(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str], setup: dict[str, Any],
) -> None:
    cases = _cases(setup)
    failures: list[str] = []
    for case in cases:
        for lang in ("vi", "en"):
            kwargs = {k: v for k, v in case.kwargs.items() if k != "headers"}
            headers = {"Accept-Language": lang, **case.kwargs.get("headers", {})}
            if case.auth:
                headers = {**auth, **headers}
            resp = await lan.request(case.method, case.path, headers=headers, **kwargs)
            text = await resp.text()
            try:
                assert resp.status == case.status, (case.name, lang, resp.status, text)
                check_body(case, lang, await resp.json(), text)
            except AssertionError as err:
                failures.append(f"{case.name} [{lang}]: {err}")
    print(f"{len(cases)} error paths x 2 languages, {len(failures)} failing")
    assert not failures, "\n".join(failures)
    assert len(cases) >= 70


async def test_disconnected_dataset_speaks_both_languages(
    lan: AppClient, ctx: NodeContext, auth: dict[str, str],
) -> None:
    await ctx.stores.disconnect(DATASET)
    case = Case("disconnected", "GET", f"{BASE}/customers", 409, "DATASET_NOT_CONNECTED")
    for lang in ("vi", "en"):
        resp = await lan.get(case.path, headers={**auth, "Accept-Language": lang})
        assert resp.status == 409
        check_body(case, lang, await resp.json(), await resp.text())


def test_the_language_checks_catch_what_they_are_for() -> None:
    """The detectors themselves: yesterday's messages fail them."""
    case = Case("old", "POST", "/", 422, "VALIDATION_FAILED")
    old = {"vi": "Dữ liệu không hợp lệ: customer: String should match pattern "
                 "'^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'",
           "en": "Invalid data: date: Input should be a valid date or datetime"}
    for lang, message in old.items():
        body = {"error": {"code": "VALIDATION_FAILED", "message": message, "details": {}}}
        with pytest.raises(AssertionError):
            check_body(case, lang, body, message)
    mixed = "Dữ liệu không hợp lệ: the value must be a number"
    with pytest.raises(AssertionError):
        check_body(case, "vi", {"error": {"code": "VALIDATION_FAILED", "message": mixed,
                                          "details": {}}}, "{}")


async def test_control_api_input_errors_speak_both_languages(
    control: AppClient, control_headers: dict[str, str],
) -> None:
    cases = [
        Case("online not a boolean", "PUT", "/control/v1/online", 422, "VALIDATION_FAILED",
             kwargs=_json({"online": "yes"}),
             contains={"vi": "phải là true hoặc false", "en": "must be true or false"}),
        Case("online bad json", "PUT", "/control/v1/online", 400, "INVALID_JSON",
             kwargs=_raw(b"{")),
        Case("unknown workstation", "DELETE", "/control/v1/workstations/nope", 404,
             "NOT_FOUND"),
    ]
    for case in cases:
        for lang in ("vi", "en"):
            resp = await control.request(
                case.method, case.path,
                headers={**control_headers, "Accept-Language": lang,
                         **case.kwargs.get("headers", {})},
                **{k: v for k, v in case.kwargs.items() if k != "headers"})
            assert resp.status == case.status, (case.name, await resp.text())
            check_body(case, lang, await resp.json(), await resp.text())


async def test_sync_now_and_pairing_lockout_speak_both_languages(
    lan: AppClient, auth: dict[str, str],
) -> None:
    sync_now = Case("sync now without a hub", "POST", f"{API}/datasets/{DATASET}/sync", 409,
                    "NOT_CONFIGURED")
    locked = Case("pairing locked out", "POST", f"{API}/pair", 429, "RATE_LIMITED")
    for lang in ("vi", "en"):
        resp = await lan.post(sync_now.path, headers={**auth, "Accept-Language": lang})
        assert resp.status == 409, await resp.text()
        check_body(sync_now, lang, await resp.json(), await resp.text())
    for attempt in range(20):  # a few wrong codes lock the address out for a while
        resp = await lan.post(f"{API}/pair", json={"code": f"WRONG{attempt:03d}", "name": "x"})
        if resp.status == 429:
            break
        assert resp.status == 403, await resp.text()
    for lang in ("vi", "en"):
        resp = await lan.post(f"{API}/pair", json={"code": "WRONG", "name": "x"},
                              headers={"Accept-Language": lang})
        assert resp.status == 429, await resp.text()
        check_body(locked, lang, await resp.json(), await resp.text())
