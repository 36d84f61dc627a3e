"""The hub's backends for the contract suite: SQLite (temp file) and PostgreSQL (a fresh
schema per test on the local server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from hub import nodes
from hub.app import create_app
from tests.hub.helpers import DS, Node, admin, make_code

PG_URL = os.environ.get("OFFICESYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_unreachable() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3):
            return None
    except psycopg.Error as err:
        return f"PostgreSQL unreachable at {PG_URL}: {str(err).splitlines()[0]}"


@pytest.fixture(scope="session")
def pg_reason() -> str | None:
    return _pg_unreachable()


@pytest.fixture
def pg_url(pg_reason: str | None) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    if pg_reason:
        pytest.skip(pg_reason)
    schema = f"hubtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/hub.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def datasets(db_url: str) -> list[str]:
    for dataset in (DS, "cty-other"):
        admin(db_url, nodes.create_dataset, dataset)
    return [DS, "cty-other"]


ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, db_url: str,
                 datasets: list[str]) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(db_url))


async def enroll(client: TestClient[Any, Any], code: str, name: str) -> dict[str, Any]:
    response = await client.post("/v1/enroll", json={"code": code, "node_name": name},
                                 headers={"OfficeSync-Protocol": "1"})
    assert response.status == 200, await response.text()
    return dict(await response.json())


@pytest.fixture
async def node(client: TestClient[Any, Any], db_url: str) -> Node:
    answer = await enroll(client, make_code(db_url, DS), "office-a")
    return Node(client, answer["token"], answer["node_id"])


@pytest.fixture
async def node_b(client: TestClient[Any, Any], db_url: str) -> Node:
    answer = await enroll(client, make_code(db_url, DS), "office-b")
    return Node(client, answer["token"], answer["node_id"])
