"""The LAN API under fuzzing (issue 8 §2.3): schemathesis draws requests from the node's own
``/api/v1/openapi.json`` (valid and invalid ones) and sends them with a valid workstation token
to a real node process; then hand-written hostile requests. Every answer: no 5xx; every error
body is ``{"error": {"code", "message", …}}`` with a message in the asked language; no stack
trace in any body."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.e2e.procs import NO_KEYRING, NodeProcess, write_node_config

from .conftest import LONG

pytestmark = [pytest.mark.e2e, pytest.mark.reliability]
EXAMPLES = int(os.environ.get("OFFICESYNC_FUZZ_EXAMPLES", 400 if LONG else 30))
DS = "cty-abc"
TRACE = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|"
                   r"site-packages/|\bsqlite3\.\w+Error\b|aiohttp\.\w+")
SKIP_PATHS = ("/events",)  # a WebSocket upgrade, not a request/answer route
PINNED = {"ds": DS, "collection": "customers"}
pytestmark.append(pytest.mark.timeout(120 + EXAMPLES * 4))


@dataclass
class Tally:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    unsatisfiable: int = 0

    def check(self, what: str, status: int, body: bytes, lang: str) -> None:
        self.sent += 1
        self.statuses[status] += 1
        text = body.decode("utf-8", errors="replace")
        if status >= 500:
            self.problems.append(f"{what}: {status} {text[:200]}")
        if TRACE.search(text):
            self.problems.append(f"{what}: stack trace or library text in the body: {text[:200]}")
        if status >= 400:
            self._error_body(what, status, body, lang)

    def _error_body(self, what: str, status: int, body: bytes, lang: str) -> None:
        try:
            error = json.loads(body)["error"]
            assert isinstance(error["code"], str) and error["code"]
            assert isinstance(error["message"], str) and error["message"].strip()
        except (ValueError, KeyError, TypeError, AssertionError):
            self.problems.append(f"{what}: {status} without an error code and message: "
                                 f"{body[:200]!r}")
            return
        if lang == "vi" and not re.search(r"[^\x00-\x7f]", error["message"]):
            self.problems.append(f"{what}: Vietnamese asked, got {error['message'][:120]!r}")


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeProcess, str]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    node = NodeProcess(write_node_config(tmp, name="node-fuzz", datasets=[DS, "cty-xyz"]),
                       env=NO_KEYRING)
    node.start()
    try:
        pair = urllib.request.Request(
            f"{node.lan_url}/api/v1/pair", method="POST",
            data=json.dumps({"code": node.pair_code(), "name": "fuzzer"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(pair, timeout=10) as answer:
            token = json.loads(answer.read())["token"]
        yield node, token
    finally:
        node.terminate()


def test_schemathesis_over_the_openapi_document(
    fuzz_node: tuple[NodeProcess, str], figures: Any
) -> None:
    node, token = fuzz_node
    schema = schemathesis.openapi.from_url(f"{node.lan_url}/api/v1/openapi.json")
    tally = Tally()
    session = requests.Session()
    operations = [r.ok() for r in schema.get_all_operations()]
    operations = [op for op in operations if not op.path.endswith(SKIP_PATHS)]
    for operation in operations:
        fixed = {k: v for k, v in PINNED.items() if "{" + k + "}" in operation.path}
        passes = [(GenerationMode.POSITIVE, {}), (GenerationMode.NEGATIVE, {})]
        if fixed:  # also deep inside: an existing dataset and collection
            passes.append((GenerationMode.POSITIVE, fixed))
        for mode, pinned in passes:
            _fuzz(operation, mode, pinned, node.lan_url, token, session, tally)
    figures("API fuzzing (schemathesis)", operations=len(operations),
            examples_per_operation_and_mode=EXAMPLES, requests=tally.sent,
            by_status=dict(sorted(tally.statuses.items())), problems=len(tally.problems),
            modes_without_invalid_input=tally.unsatisfiable)
    assert len(operations) >= 12 and tally.sent >= len(operations) * 2
    assert not tally.problems, "\n".join(tally.problems[:20])


def _fuzz(operation: Any, mode: GenerationMode, pinned: dict[str, str], base: str, token: str,
          session: requests.Session, tally: Tally) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=pinned or None))
    def run(case: Any) -> None:
        lang = "vi" if tally.sent % 2 else "en"
        headers = {"Accept-Language": lang, "Authorization": f"Bearer {token}"}
        response = case.call(base_url=base, session=session, headers=headers, timeout=15)
        tally.check(f"{case.method} {case.formatted_path}", response.status_code,
                    response.content, lang)

    try:
        run()
    except Unsatisfiable:  # e.g. no invalid request exists for a route without parameters
        tally.unsatisfiable += 1


def _raw(base: str, token: str, method: str, path: str, body: bytes | None = None,
         lang: str = "en", content_type: str = "application/json") -> tuple[int, bytes]:
    request = urllib.request.Request(base + path, method=method, data=body, headers={
        "Authorization": f"Bearer {token}", "Accept-Language": lang,
        "Content-Type": content_type, "If-Match": '"1"'})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _hostile_cases() -> list[tuple[str, str, str, bytes | None]]:
    records = f"/api/v1/datasets/{DS}/records/customers"
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_obj = (b'{"data": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}")
    cases: list[tuple[str, str, str, bytes | None]] = [
        ("deep array", "POST", records, deep),
        ("deep object", "POST", records, deep_obj),
        ("huge integer", "POST", records,
         b'{"data": {"code": "KH1", "name": "x", "phone": ' + b"9" * 5000 + b"}}"),
        ("huge float", "POST", records, b'{"data": {"code": "KH2", "name": 1e999999}}'),
        ("voucher amount 2^63", "POST", f"/api/v1/datasets/{DS}/records/vouchers",
         b'{"data": {"type": "receipt", "date": "2026-12-01", "lines": [{"debit": "a", '
         b'"credit": "b", "amount": 9223372036854775808}]}}'),
        ("invalid UTF-8 body", "POST", records, b'{"data": {"code": "\xff\xfe", "name": "\xc3"}}'),
        ("invalid UTF-8 JSON key", "POST", records, b'{"\xff": 1}'),
        ("NUL in body", "POST", records, b'{"data": {"code": "K\x00", "name": "x"}}'),
        ("not JSON", "POST", records, b"<xml/>"),
        ("empty body", "POST", records, b""),
        ("body a list", "POST", records, b"[1, 2]"),
        ("id not a UUID", "GET", f"{records}/KH001", None),
        ("id a SQL fragment", "GET", f"{records}/1'%20OR%20'1'='1", None),
        ("id too long", "GET", f"{records}/{'a' * 5000}", None),
        ("update non-UUID", "PUT", f"{records}/not-a-uuid", b'{"data": {"code": "x"}}'),
        ("delete non-UUID", "DELETE", f"{records}/..", None),
        ("post non-UUID", "POST", f"{records}/%00/post", None),
    ]
    for sneaky in ("..%2f..%2fetc%2fpasswd", "..%2F", "%2e%2e", "..%5c..%5cwindows",
                   "cty-abc%2f..%2f..", "%00", "CON", "a" * 300):
        cases.append((f"dataset {sneaky[:20]}", "GET",
                      f"/api/v1/datasets/{sneaky}/records/customers", None))
        cases.append((f"collection {sneaky[:20]}", "GET",
                      f"/api/v1/datasets/{DS}/records/{sneaky}", None))
    cases += [
        ("dataset ../etc raw", "GET", "/api/v1/datasets/../etc/records/customers", None),
        ("export traversal", "GET", f"/api/v1/datasets/..%2f{DS}/export?scope=pending", None),
        ("import into traversal", "POST", "/api/v1/datasets/..%2fetc/import", b"<x/>"),
        ("static traversal", "GET", "/static/..%2f..%2fetc%2fpasswd", None),
        ("dashboard traversal", "GET", "/dashboard/..%2f..%2fagent%2fapp.py", None),
        ("bad limit", "GET", f"{records}?limit=-1", None),
        ("huge limit", "GET", f"{records}?limit={'9' * 400}", None),
        ("bad cursor", "GET", f"{records}?after=%ff%fe", None),
        ("bad date", "GET", f"/api/v1/datasets/{DS}/records/vouchers?date_from=01/12/2026",
         None),
    ]
    return cases


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_hostile_requests_get_clear_errors(
    fuzz_node: tuple[NodeProcess, str], lang: str, figures: Any
) -> None:
    node, token = fuzz_node
    tally = Tally()
    for what, method, path, body in _hostile_cases():
        status, answer = _raw(node.lan_url, token, method, path, body, lang)
        tally.check(what, status, answer, lang)
        if "traversal" in what or ".." in path or "%2f" in path.lower():
            assert b"root:x:0" not in answer and b"from __future__" not in answer, what
    figures(f"API hand-written hostile cases ({lang})", requests=tally.sent,
            by_status=dict(sorted(tally.statuses.items())), problems=len(tally.problems))
    assert not tally.problems, "\n".join(tally.problems)
    assert all(400 <= s < 500 for s in tally.statuses), tally.statuses
