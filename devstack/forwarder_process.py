"""The forwarder as a real process (`python -m csrgate.forwarder`), as a pod runs it: for the tests and benchmarks one
run at a time, for the dev stack supervised (started again if it dies, as a Deployment would)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

LOG = logging.getLogger("devstack.forwarder")


def forwarder_env(
    kubeconfig: Path, api_url: str, key_file: Path, cluster: str = "lab", **settings: str
) -> dict[str, str]:
    """The forwarder's environment: a kubeconfig that may get, list and watch CSRs, HMAC with the key in `key_file`
    to csrgate's API at `api_url`, health and metrics on a free port of 127.0.0.1; `settings` on top."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(key_file.parent),
        "KUBECONFIG": str(kubeconfig),
        "CSRGATE_API_URL": api_url,
        "CSRGATE_CLUSTER": cluster,
        "CSRGATE_AUTH": "hmac",
        "CSRGATE_HMAC_KEY_FILE": str(key_file),
        "CSRGATE_HTTP_ADDRESS": "127.0.0.1",
        "CSRGATE_HTTP_PORT": "0",
        "CSRGATE_LOG_LEVEL": "INFO",
    }
    env.update(settings)
    return env


@dataclass
class ForwarderProcess:
    """`python -m csrgate.forwarder` with `env`, its JSON log lines appended to `log_path`."""

    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self, ready_within: float = 30.0) -> ForwarderProcess:
        """Start and wait until /readyz answers 200 (the first list is queued)."""
        process = self.spawn()
        deadline = time.monotonic() + ready_within
        while self.probe("/readyz") != 200:
            if process.poll() is not None:
                raise RuntimeError(f"the forwarder exited with {process.returncode}; {self.log_path}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the forwarder was not ready within {ready_within} s; {self.log_path}:\n{self.output()}"
                )
            time.sleep(0.05)
        return self

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process (again), logging to the same file, without waiting for it."""
        if self._log is None:
            self._log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", "csrgate.forwarder"], env=self.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        return self.process

    def lines(self) -> list[dict[str, Any]]:
        """Every JSON log line so far (all lines must be JSON)."""
        return [json.loads(line) for line in self.output().splitlines() if line.strip()]

    def output(self) -> str:
        """The raw log."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def http_port(self) -> int | None:
        """The health port of the latest process, from its last forwarder.started line."""
        started = [entry for entry in self._entries() if entry.get("message") == "forwarder.started"]
        return int(started[-1]["http_port"]) if started else None

    def probe(self, path: str) -> int | None:
        """The status of GET path on the health port (None while nothing answers)."""
        port = self.http_port
        if port is None:
            return None
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)
        except OSError:
            return None

    def metrics(self) -> str:
        """The Prometheus exposition text."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())

    def kill(self) -> None:
        """SIGKILL: no drain, as when a node dies or the OOM killer strikes."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)
        self._close_log()

    def terminate(self, within: float = 30.0) -> tuple[int, float]:
        """SIGTERM, as the kubelet stops a pod; the exit status and how long the drain took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(within)
        self._close_log()
        return status, time.monotonic() - started

    def stop(self, drain_within: float = 15.0) -> None:
        """SIGTERM (it drains what is queued), SIGKILL if that takes longer than `drain_within`."""
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate(drain_within)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()

    def _entries(self) -> Iterator[dict[str, Any]]:
        # what is not a JSON object here is a line being written, or not the forwarder's
        for line in self.output().splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class SupervisedForwarder:
    """A ForwarderProcess started again whenever it exits, until stopped; its current pid in `pid_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, pid_path: Path, restart_after: float = 0.5) -> None:
        self._forwarder = ForwarderProcess(env, log_path)
        self._pid_path = pid_path
        self._restart_after = restart_after
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    def start(self, ready_within: float = 30.0) -> SupervisedForwarder:
        """Start it, wait until /readyz answers 200, then keep it running."""
        self._forwarder.start(ready_within)
        self._write_pid()
        self._watcher = threading.Thread(target=self._watch, name="forwarder-supervisor", daemon=True)
        self._watcher.start()
        return self

    def stop(self, drain_within: float = 15.0) -> None:
        """Stop restarting it, then stop it: SIGTERM, SIGKILL if the drain takes longer than `drain_within`."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        self._forwarder.stop(drain_within)
        self._pid_path.unlink(missing_ok=True)

    def _write_pid(self) -> None:
        assert self._forwarder.process is not None
        self._pid_path.write_text(f"{self._forwarder.process.pid}\n")

    def _watch(self) -> None:
        while not self._stopping.wait(0.1):
            process = self._forwarder.process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                LOG.warning("the forwarder exited with %s; starting it again", process.returncode)
                self._stopping.wait(self._restart_after)
                if not self._stopping.is_set():
                    self.restarts += 1
                    self._forwarder.spawn()
                    self._write_pid()
