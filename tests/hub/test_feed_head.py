"""Contract: a page of the change feed says the feed's head (``head_seq``), from which a node
shows a first download's total; both hub backends."""

from __future__ import annotations

from protocol.models import ChangesPage
from tests.hub.helpers import Node, customer, new_id, op


async def test_each_page_says_the_feeds_head(node: Node) -> None:
    await node.push(*[op("create", "customers", new_id(), customer(f"K{i}")) for i in range(12)])
    first = await node.changes(0, limit=5)
    assert (first["last_seq"], first["has_more"], first["head_seq"]) == (5, True, 12)
    await node.push(op("create", "customers", new_id(), customer("K12")))
    second = await node.changes(5, limit=5)  # the head moved on with the push
    assert (second["last_seq"], second["head_seq"]) == (10, 13)
    last = await node.changes(10, limit=5)
    assert (last["last_seq"], last["has_more"], last["head_seq"]) == (13, False, 13)
    assert ChangesPage.model_validate(last).head_seq == 13


def test_a_page_of_an_older_hub_has_no_head() -> None:
    page = ChangesPage.model_validate({"changes": [], "last_seq": 4, "has_more": False})
    assert page.head_seq is None
