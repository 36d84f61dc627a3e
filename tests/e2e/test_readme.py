"""The README's "by hand" shell block runs as pasted (issue 8, defect 13): from the checkout, in
a shell where the venv is not activated, against the real hub and node it starts — only its
ports are swapped for free ones so it never collides with a demo or another test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from .procs import NO_KEYRING, free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)
SECTION = "## A node with a hub, by hand"
BLOCK_RE = re.compile(r"```sh\n(?P<body>.*?)```", re.S)
PORTS = ("8570", "8571", "8580")
TIMEOUT_S = 120


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = BLOCK_RE.search(text, text.index(SECTION))
    assert found is not None, "no ```sh block in the by-hand section"
    return found["body"]


def _with_free_ports(script: str) -> str:
    for port in PORTS:
        script = re.sub(rf"\b{port}\b", str(free_port()), script)
    return script


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_readme_block_uses_its_own_ports_loopback_and_no_mdns() -> None:
    block = readme_block()
    assert "8470" not in block and "8480" not in block  # the demo's ports
    assert 'host = "127.0.0.1"' in block and "enabled = false" in block
    assert "0.0.0.0" not in block.replace('("0.0.0.0": the office LAN)', "")
    assert block.lstrip().startswith("source .venv/bin/activate")


def test_readme_block_runs_as_pasted(tmp_path: Path) -> None:
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and p != VENV_BIN)  # `officesync` is NOT on PATH at first
    env = {**{k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}, **NO_KEYRING,
           "PATH": path, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(["bash", "-e", "-c", _with_free_ports(readme_block())], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    stragglers = False
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            deadline = time.monotonic() + 15  # `kill` at the block's end: a clean stop
            while _group_alive(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            stragglers = _group_alive(proc.pid)
            if stragglers:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert not stragglers, "the block's hub and node were still running after its `kill`"
    assert '"code":"KH001"' in out.replace(" ", "")  # the workstation's create answered
    assert "Đã đăng ký với Cloud" in out  # enrolled
    assert "Traceback" not in err
    assert not (ROOT / "node.toml").exists() and not (ROOT / "hub.db").exists()
