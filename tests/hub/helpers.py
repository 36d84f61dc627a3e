"""Builders of ops and records for the hub's tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from hub import nodes
from hub.db import create_schema
from hub.store import HubStore

DS = "cty-abc"


def new_id() -> str:
    return str(uuid.uuid4())


def op(action: str, collection: str, id: str, data: dict[str, Any] | None = None,
       base: int | None = None, op_id: str | None = None) -> dict[str, Any]:
    return {"op_id": op_id or new_id(), "collection": collection, "id": id, "action": action,
            "base_version": base, "data": data}


def customer(code: str, name: str | None = None) -> dict[str, Any]:
    return {"code": code, "name": name or f"Cong ty {code}"}


def account(number: str) -> dict[str, Any]:
    return {"number": number, "name": f"Tai khoan {number}"}


def voucher(debit: str, credit: str, number: str | None = "PT000001", *,
            date: str = "2024-01-15", customer: str | None = None,
            amount: int = 100_000) -> dict[str, Any]:
    data: dict[str, Any] = {"type": "receipt", "date": date,
                            "lines": [{"debit": debit, "credit": credit, "amount": amount}]}
    if number is not None:
        data["number"] = number
    if customer is not None:
        data["customer"] = customer
    return data


def admin(db_url: str, fn: Any, *args: Any) -> Any:
    """One admin transaction, as the CLI runs it."""
    store = HubStore(db_url)
    try:
        create_schema(store.engine)
        return store.transaction(fn, *args, write=True)
    finally:
        store.engine.dispose()


def count_rows(db_url: str, table: sa.Table) -> int:
    def run(conn: sa.Connection) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)
    return int(admin(db_url, run))


def make_code(db_url: str, *datasets: str) -> str:
    import datetime as dt
    return str(admin(db_url, nodes.create_enroll_code, list(datasets), dt.timedelta(hours=1)))


@dataclass
class Node:
    """A test client acting as one enrolled node."""

    client: TestClient[Any, Any]
    token: str
    node_id: str
    lang: str = "en"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"OfficeSync-Protocol": "1", "Authorization": f"Bearer {self.token}",
                "Accept-Language": self.lang, **extra}

    async def call(self, method: str, path: str, json: Any = None,
                   **params: Any) -> tuple[int, Any]:
        response = await self.client.request(
            method, path, json=json, params=params or None, headers=self.headers()
        )
        return response.status, await response.json()

    async def push(self, *ops: dict[str, Any], ds: str = DS) -> list[dict[str, Any]]:
        status, body = await self.call("POST", f"/v1/datasets/{ds}/push", {"ops": list(ops)})
        assert status == 200, body
        return list(body["results"])

    async def create(self, collection: str, data: dict[str, Any],
                     id: str | None = None) -> str:
        record_id = id or new_id()
        [result] = await self.push(op("create", collection, record_id, data))
        assert result["status"] == "applied", result
        return record_id

    async def changes(self, since: int = 0, ds: str = DS, **params: Any) -> dict[str, Any]:
        status, body = await self.call("GET", f"/v1/datasets/{ds}/changes", since=since,
                                       **params)
        assert status == 200, body
        return dict(body)
