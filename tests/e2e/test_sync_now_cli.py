"""``officesync sync`` against a real node says why nothing can sync, in one line with a
non-zero exit (issue 8, defect 12); ``officesync status`` shows a refused dataset's message."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from agent.cli import render_status
from agent.sync.state import refused

from .procs import NodeProcess, run_cli

pytestmark = pytest.mark.e2e


def _sync(node: NodeProcess, lang: str) -> tuple[int, str, str]:
    done = run_cli("--lang", lang, "sync", "--config", str(node.config), env=node.env)
    return done.returncode, done.stdout, done.stderr


def test_sync_now_without_hub_and_offline_by_choice_fails_with_one_line(
    node: NodeProcess,
) -> None:
    code, out, err = _sync(node, "en")
    assert code != 0 and out == ""
    assert err.strip().count("\n") == 0
    assert err.startswith("NOT_CONFIGURED:") and "officesync enroll" in err

    toggled = run_cli("offline", "--config", str(node.config), env=node.env)
    assert toggled.returncode == 0, toggled.stderr
    try:
        code, out, err = _sync(node, "vi")
        assert code != 0 and out == "" and err.strip().count("\n") == 0
        assert err.strip() == (
            "OFFLINE_BY_USER: Máy chủ đang làm việc offline theo lựa chọn của người dùng: bật "
            "\"Làm việc online\" (officesync online) để đồng bộ")
        code, _out, err = _sync(node, "en")
        assert code != 0 and "Work online" in err and "officesync online" in err
    finally:
        run_cli("online", "--config", str(node.config), env=node.env)


def test_status_shows_a_refused_dataset_with_what_to_do() -> None:
    status = {
        "online": True, "connectivity": "online",
        "message": {"vi": "Đang kết nối", "en": "Online"},
        "datasets": [{"id": "cty-abc", "connected": True, "counts": {"pending": 3},
                      "sync": refused("cty-abc", "FORBIDDEN").as_json()}],
        "workstations": 0, "version": "x", "hub": {"url": "http://hub"},
        "tls_fingerprint": None, "pending_restart": None, "config_error": None,
        "failing_tasks": [],
    }
    for lang, words in (("en", "Ask the hub administrator"), ("vi", "quản trị viên Cloud")):
        out = StringIO()
        render_status(status, lang, Console(file=out, width=200))  # type: ignore[arg-type]
        assert words in out.getvalue() and "cty-abc:" in out.getvalue()
