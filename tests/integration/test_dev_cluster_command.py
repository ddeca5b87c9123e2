"""`csrgate dev cluster` as a developer runs it: ready line, files, a clean stop on signals, state kept."""

from __future__ import annotations

import base64
import json
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cluster_access import csr_manifest

from devstack.csrs import make_csr
from devstack.harness import Kubectl, free_port

CSRGATE = Path(sys.executable).parent / "csrgate"


def start(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [str(CSRGATE), "dev", "cluster", "--data-dir", str(data_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    ready = process.stdout.readline()
    return process, ready


def kubectl(home: Path, data_dir: Path, *args: str, stdin: str | None = None) -> str:
    return Kubectl(home, data_dir / "admin.kubeconfig")(*args, stdin=stdin).stdout


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_it_serves_until_a_signal_and_keeps_its_state_across_restarts(
    tmp_path: Path, stop_with: signal.Signals
) -> None:
    data_dir, port = tmp_path / "data", free_port()

    process, ready = start(data_dir, port)
    try:
        version = kubectl(tmp_path, data_dir, "version", "-o", "json")
        kubectl(tmp_path, data_dir, "apply", "-f", "-", stdin=csr_manifest("kept", make_csr("alice")))
        first = json.loads(kubectl(tmp_path, data_dir, "get", "csr", "kept", "-o", "json"))
    finally:
        process.send_signal(stop_with)
        exit_status = process.wait(timeout=10)
    token = (data_dir / "approver.token").read_text()

    restarted, _ = start(data_dir, port)
    try:
        kubectl(tmp_path, data_dir, "apply", "-f", "-", stdin=csr_manifest("new", make_csr("bob")))
        listed = json.loads(kubectl(tmp_path, data_dir, "get", "csr", "-o", "json"))
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=10)

    assert ready == f"csrgate dev cluster: serving https://127.0.0.1:{port}\n"
    assert json.loads(version)["serverVersion"]["gitVersion"] == "v1.37.0+csrgate-dev"
    assert exit_status == 0
    for private in ("admin.kubeconfig", "approver.kubeconfig", "ca.key", "approver.token"):
        assert stat.S_IMODE((data_dir / private).stat().st_mode) == 0o600, private
    assert (data_dir / "approver.token").read_text() == token
    kept, new = (item for item in listed["items"])
    assert kept["metadata"] == first["metadata"]
    assert int(new["metadata"]["resourceVersion"]) > int(kept["metadata"]["resourceVersion"])
    approver = yaml.safe_load((data_dir / "approver.kubeconfig").read_text())
    assert approver["users"][0]["user"] == {"token": token.strip()}
    ca = base64.b64decode(approver["clusters"][0]["cluster"]["certificate-authority-data"])
    assert ca == (data_dir / "ca.crt").read_bytes()


def test_a_port_in_use_is_one_line_on_stderr(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(CSRGATE), "dev", "cluster", "--data-dir", str(tmp_path), "--port", str(port)],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.startswith("csrgate: error: ")
    assert "Address already in use" in result.stderr
