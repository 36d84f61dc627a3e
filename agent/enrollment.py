"""Enrolling this node with a hub: one-time code in, node token to the secret store; and the
one line that tells the person what went wrong and the step that fixes it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from agent.cli_text import text
from agent.cloud.client import (
    HubAuthFailed,
    HubClient,
    HubError,
    HubRateLimited,
    HubRejected,
    HubUnreachable,
    HubUpgradeRequired,
)
from agent.config import Config
from agent.secrets import NodeSecrets, SecretLocation
from agent.store.node import NodeDB
from agent.sync.engine import HUB_SETTING
from protocol.address import identify
from protocol.i18n import Lang


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


async def enroll_waiting(config: Config, hub_url: str, code: str, wait: float) -> Enrollment:
    """:func:`enroll`, trying again for up to ``wait`` seconds while nothing answers at
    ``hub_url`` (a hub that was just started); any answer of the hub is final."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return await enroll(config, hub_url, code)
        except HubUnreachable as err:
            if time.monotonic() >= deadline or not no_answer(err):
                raise
        await asyncio.sleep(0.2)


def no_answer(err: HubError) -> bool:
    """Nothing answered at all (refused, timed out, no such host), as opposed to an answer."""
    return isinstance(err, HubUnreachable) and not err.reason.startswith(
        ("HTTP", "invalid response"))


async def explain_failure(err: HubError, hub_url: str, lang: Lang) -> str:
    """What went wrong when enrolling at ``hub_url``, and the one step that fixes it."""
    if isinstance(err, HubAuthFailed):
        return text("enroll_bad_code", lang)
    if isinstance(err, HubRateLimited):
        return text("enroll_busy", lang, seconds=f"{err.retry_after:g}")
    if no_answer(err):
        return text("enroll_unreachable", lang, url=hub_url)
    found = await identify(hub_url)
    if found == "node":
        return text("enroll_is_node", lang, url=hub_url)
    if isinstance(err, HubUpgradeRequired):
        return text("enroll_upgrade", lang, url=hub_url)
    status = _status_of(err)
    if found == "hub":
        if isinstance(err, HubRejected):
            return text("enroll_rejected", lang, message=err.message)
        return text("enroll_hub_failing", lang, url=hub_url, status=status)
    return text("enroll_not_hub", lang, url=hub_url, status=status)


def _status_of(err: HubError) -> str:
    if isinstance(err, HubRejected):
        return str(err.status)
    reason = err.reason if isinstance(err, HubUnreachable) else ""
    return reason.removeprefix("HTTP ").split()[0] if reason.startswith("HTTP") else "200"
