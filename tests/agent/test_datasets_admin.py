"""``officesync dataset connect|disconnect`` on the config file (the node not running), and the
diagnostics bundle's scrubbing of secrets."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from agent.config import load_config
from agent.datasets_admin import file_counts, set_connected
from agent.diagnostics import REDACTED, build_offline_bundle, scrub, strip_userinfo
from agent.store import StoreManager
from protocol.errors import ErrorCode, ProtocolError
from tests.e2e.procs import run_cli

CONFIG = """# the office's node
[node]
name = "office"  # shown to workstations
data_dir = "./data"
language = "en"

# first company
[[datasets]]
id = "cty-a"

# second company
[[datasets]]
id = "cty-b"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_disconnect_and_connect_keep_the_file_as_written(config: Path) -> None:
    new = set_connected(config, "cty-b", False)
    assert new.dataset_ids == ["cty-a"] and new.disconnected_ids == ["cty-b"]
    text = config.read_text(encoding="utf-8")
    assert text == CONFIG.replace('id = "cty-b"\n', 'id = "cty-b"\nconnected = false\n')
    assert load_config(config).dataset_ids == ["cty-a"]
    set_connected(config, "cty-b", True)
    assert config.read_text(encoding="utf-8") == CONFIG
    set_connected(config, "cty-c", True)  # a dataset not listed yet: a table is added
    assert load_config(config).dataset_ids == ["cty-a", "cty-b", "cty-c"]
    assert config.read_text(encoding="utf-8").startswith(CONFIG)


@pytest.mark.parametrize(("dataset", "connected", "code"), [
    ("cty-a", True, ErrorCode.DATASET_ALREADY_CONNECTED),
    ("cty-zz", False, ErrorCode.DATASET_NOT_FOUND),
    ("Bad Id!", True, ErrorCode.VALIDATION_FAILED),
    ("Bad Id!", False, ErrorCode.VALIDATION_FAILED),
])
def test_a_refused_change_writes_nothing(config: Path, dataset: str, connected: bool,
                                         code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as refused:
        set_connected(config, dataset, connected)
    assert refused.value.code is code
    assert config.read_text(encoding="utf-8") == CONFIG
    assert not list(config.parent.glob(".node.toml.*"))  # no temp file left behind


def test_disconnecting_twice_names_the_connected_ones(config: Path) -> None:
    set_connected(config, "cty-b", False)
    with pytest.raises(ProtocolError) as refused:
        set_connected(config, "cty-b", False)
    assert refused.value.code is ErrorCode.DATASET_NOT_CONNECTED
    assert "cty-a" in str(refused.value)


def test_cli_without_a_running_node_edits_the_file(config: Path) -> None:
    done = run_cli("dataset", "disconnect", "cty-b", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "cty-b" in done.stdout and "not running" in done.stdout
    assert load_config(config).disconnected_ids == ["cty-b"]
    bad = run_cli("dataset", "connect", "cty-a", "--config", str(config))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "DATASET_ALREADY_CONNECTED: Accounting dataset cty-a is already connected on this "
        "server; nothing to do."]
    vi = run_cli("dataset", "connect", "Sai!", "--config", str(config), "--lang", "vi")
    assert vi.returncode == 2 and "không hợp lệ" in vi.stderr


async def test_a_kept_file_tells_its_pending_count(tmp_path: Path) -> None:
    stores = StoreManager(tmp_path)
    store = await stores.connect("cty-b")
    for i in range(3):
        await store.create("customers", {"code": f"KH{i}", "name": "x"})
    await stores.disconnect("cty-b")
    counts = file_counts(stores.path_of("cty-b"))
    assert counts is not None and counts["pending"] == 3
    assert file_counts(tmp_path / "datasets" / "none.db") is None


def test_scrub_takes_out_secrets_known_and_shaped() -> None:
    text = ("hub osn_" + "x" * 40 + " code ABCD-EFGH-JK23 Authorization: Bearer abc.def "
            "url postgresql://admin:hunter2@db/hub token=zz9 id 4de222f5-1234-5678-9012-"
            "f1fa6b1c476b known s3cr3t-value")
    clean = scrub(text, ["s3cr3t-value"])
    for secret in ("osn_", "ABCD-EFGH-JK23", "abc.def", "hunter2", "admin", "zz9",
                   "s3cr3t-value"):
        assert secret not in clean, secret
    assert "4de222f5-1234-5678-9012-f1fa6b1c476b" in clean  # a record id stays
    assert clean.count(REDACTED) >= 6
    assert strip_userinfo("https://u:p@hub.example:8443/x?key=1") == "https://hub.example:8443/x"


def test_offline_bundle_has_no_password(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(CONFIG + '\n[cloud]\nurl = "http://ops:Pa55word@hub.example:8480"\n',
                    encoding="utf-8")
    data = build_offline_bundle(load_config(path))
    out = tmp_path / "b.zip"
    out.write_bytes(data)
    with zipfile.ZipFile(out) as archive:
        texts = {n: archive.read(n).decode() for n in archive.namelist()}
    assert "datasets/cty-a.json" in texts and "hub.example:8480" in texts["config.json"]
    assert not any("Pa55word" in t or "ops:" in t for t in texts.values())
