"""Enrolling this node with a hub: one-time code in, node token to the secret store."""

from __future__ import annotations

from dataclasses import dataclass

from agent.cloud.client import HubClient
from agent.config import Config
from agent.secrets import NodeSecrets, SecretLocation
from agent.store.node import NodeDB
from agent.sync.engine import HUB_SETTING


@dataclass(frozen=True)
class Enrollment:
    hub_url: str
    node_id: str
    datasets: list[str]
    secret: SecretLocation


async def enroll(config: Config, hub_url: str, code: str) -> Enrollment:
    """Use ``code`` at the hub; keep the token in the keyring (or a 0600 file) and the hub's
    address and this node's hub id in node.db. Enrolling again adds the new code's grants."""
    client = HubClient(hub_url, language=config.node.language)
    try:
        answer = await client.enroll(code.strip(), config.node.name)
    finally:
        await client.close()
    secret = NodeSecrets(config.data_dir).store(answer.token)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    node_db = NodeDB(config.data_dir / "node.db")
    await node_db.open()
    try:
        await node_db.set_setting(HUB_SETTING, {
            "url": hub_url.rstrip("/"), "node_id": answer.node_id,
            "datasets": answer.datasets, "token_store": secret.where,
        })
    finally:
        await node_db.close()
    return Enrollment(hub_url, answer.node_id, answer.datasets, secret)
