"""Several hub processes on one PostgreSQL database work together: a node long-polling
instance 2 sees a push made through instance 1 within a second (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from agent.cloud.client import HubClient
from protocol.models import Action, Op

from .hub_procs import HubProcess
from .procs import NO_KEYRING, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
PG = "postgresql://postgres@127.0.0.1:5432/test"
DS = "cty-abc"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    try:
        conn = psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.Error as err:
        pytest.skip(f"PostgreSQL unreachable at {PG}: {err}")
    schema = f"hub_e2e_{uuid.uuid4().hex[:10]}"
    with conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{PG}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


async def test_push_through_one_instance_wakes_a_long_poll_on_another(
    tmp_path: Path, pg_schema: str
) -> None:
    one = HubProcess(pg_schema, free_port(), tmp_path / "one", env=NO_KEYRING)
    two = HubProcess(pg_schema, free_port(), tmp_path / "two", env=NO_KEYRING)
    one.create_dataset(DS)
    code = one.enroll_code(DS)
    one.start()
    two.start()
    try:
        enroller = HubClient(one.url)
        enrolled = await enroller.enroll(code, "office-a")
        await enroller.close()
        via_one = HubClient(one.url, enrolled.token)
        via_two = HubClient(two.url, enrolled.token)
        try:
            start = (await via_two.changes(DS, since=0)).last_seq
            poll = asyncio.create_task(via_two.changes(DS, since=start, wait=20))
            await asyncio.sleep(0.5)  # let the long-poll park on instance two
            assert not poll.done()
            pushed_at = time.monotonic()
            op = Op(op_id=str(uuid.uuid4()), collection="customers", id=str(uuid.uuid4()),
                    action=Action.CREATE, data={"code": "KH001", "name": "Công ty A"})
            results = await via_one.push(DS, [op])
            assert results[0].status == "applied"
            page = await asyncio.wait_for(poll, 5)
            woke_after = time.monotonic() - pushed_at
            assert [c.id for c in page.changes] == [op.id]
            assert woke_after < 1.0, f"instance two answered {woke_after:.2f} s after the push"
        finally:
            await via_one.close()
            await via_two.close()
    finally:
        one.kill()
        two.kill()
