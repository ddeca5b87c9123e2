"""The forwarder as the dev stack runs it: a child process, started again if it dies, as a Deployment would."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

LOG = logging.getLogger("devstack.forwarder")


class SupervisedForwarder:
    """`python -m csrgate.forwarder` with `env`, logging to `log_path`; its current pid in `pid_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, pid_path: Path, restart_after: float = 0.5) -> None:
        self._env = env
        self._log_path = log_path
        self._pid_path = pid_path
        self._restart_after = restart_after
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    def start(self, ready_within: float = 30.0) -> SupervisedForwarder:
        """Start it, wait until /readyz answers 200, then keep it running."""
        self._log = open(self._log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        process = self._spawn()
        deadline = time.monotonic() + ready_within
        while not forwarder_ready(self._log_path):
            if process.poll() is not None:
                raise RuntimeError(f"the forwarder exited with {process.returncode}; see {self._log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the forwarder was not ready within {ready_within} s; see {self._log_path}")
            time.sleep(0.05)
        self._watcher = threading.Thread(target=self._watch, name="forwarder-supervisor", daemon=True)
        self._watcher.start()
        return self

    def stop(self, drain_within: float = 15.0) -> None:
        """SIGTERM (it drains what is queued), SIGKILL if it takes longer than `drain_within`."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(drain_within)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._pid_path.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "csrgate.forwarder"], env=self._env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._pid_path.write_text(f"{self._process.pid}\n")
        return self._process

    def _watch(self) -> None:
        while not self._stopping.wait(0.1):
            process = self._process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                LOG.warning("the forwarder exited with %s; starting it again", process.returncode)
                self._stopping.wait(self._restart_after)
                if not self._stopping.is_set():
                    self.restarts += 1
                    self._spawn()


def forwarder_ready(log_path: Path) -> bool:
    """True once the latest forwarder's health port answers /readyz with 200."""
    ports = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("message") == "forwarder.started":
            ports.append(entry.get("http_port"))
    if not ports:
        return False
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[-1]}/readyz", timeout=2) as answer:  # noqa: S310
            return int(answer.status) == 200
    except OSError:
        return False
