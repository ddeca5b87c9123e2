"""Driving a running `csrgate dev up` from scripts and tests: start it, read stack.json, use kubectl and Slack."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import yaml

from devstack.cluster.kubeconfigs import (
    write_node_kubeconfig,
    write_service_account_kubeconfig,
    write_user_kubeconfig,
)
from devstack.harness import Kubectl

T = TypeVar("T")


class StackError(Exception):
    """The dev stack did not start, or did not do what was expected in time."""


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Call `probe` until it returns something truthy (not None, False, an empty list, ...) and return that; fail
    after `timeout` seconds, naming what."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@contextmanager
def running_dev_up(data_dir: Path, log: Path | None = None, ready_within: float = 60.0) -> Iterator[DevStackClient]:
    """`csrgate dev up` as a child process in a session of its own; its whole process group is ended on exit."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = log or data_dir / "dev-up.log"
    command = [str(Path(sys.executable).parent / "csrgate"), "dev", "up", "--data-dir", str(data_dir)]
    with open(log_path, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        stack_file = data_dir / "stack.json"

        def ready() -> bool:
            if process.poll() is not None:
                raise StackError(f"csrgate dev up exited with {process.returncode}; see {log_path}")
            return stack_file.exists()

        wait_for("csrgate dev up to write stack.json", ready, timeout=ready_within)
        yield DevStackClient(json.loads(stack_file.read_text()), data_dir)
    finally:
        _end_group(process)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    # SIGTERM lets dev up stop the forwarder and the cluster cleanly; SIGKILL the group if it does not
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left in the group (the forwarder) goes too


@dataclass
class DevStackClient:
    """A running dev stack as stack.json describes it."""

    stack: dict[str, Any]
    home: Path

    @property
    def channel(self) -> str:
        """The dev cluster's review channel."""
        return str(self.stack["channel"])

    def user(self, name: str) -> str:
        """A Slack user id by name."""
        return str(next(uid for uid, user in self.stack["users"].items() if user["name"] == name))

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real kubectl as the cluster admin (or with another kubeconfig); KubectlFailed if it fails and `check`."""
        config = Path(kubeconfig or self.stack["kubeconfig"])
        return Kubectl(self.home, config)(*args, stdin=stdin, check=check)

    def node_kubeconfig(self, node: str) -> str:
        """A kubeconfig for node `node` (CN system:node:<node>, O system:nodes) from the dev cluster's CA, as its
        kubelet would have one; pass it to `kubectl(..., kubeconfig=...)` to act as the node."""
        admin = Path(self.stack["kubeconfig"])
        server = yaml.safe_load(admin.read_text())["clusters"][0]["cluster"]["server"]
        return str(write_node_kubeconfig(admin.parent, server, node))

    def service_account_kubeconfig(self, namespace: str, name: str) -> str:
        """A kubeconfig for service account `namespace/name` (user system:serviceaccount:<namespace>:<name>); the
        dev cluster lets those of namespace `ci` create CSRs."""
        admin = Path(self.stack["kubeconfig"])
        server = yaml.safe_load(admin.read_text())["clusters"][0]["cluster"]["server"]
        return str(write_service_account_kubeconfig(admin.parent, server, namespace, name))

    def user_kubeconfig(self, user: str) -> str:
        """A kubeconfig for person `user` (a client certificate naming them, no group) from the dev cluster's CA, as
        someone who already signs in to the cluster has; what they may do is what bindings grant them."""
        admin = Path(self.stack["kubeconfig"])
        server = yaml.safe_load(admin.read_text())["clusters"][0]["cluster"]["server"]
        return str(write_user_kubeconfig(admin.parent, server, user))

    def csr(self, name: str) -> dict[str, Any] | None:
        """The CSR as the cluster has it, or None."""
        result = self.kubectl("get", "csr", name, "-o", "json", check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def condition(self, name: str) -> str:
        """The CONDITION column of `kubectl get csr` (Pending, Approved,Issued, Denied ...)."""
        result = self.kubectl("get", "csr", name, "--no-headers", check=False)
        columns = result.stdout.split() if result.returncode == 0 else []
        return columns[-1] if columns else ""

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every Slack message the stand-in holds (optionally one channel's)."""
        query = f"?channel={channel}" if channel else ""
        return list(self._get(f"_emulator/messages{query}"))

    def ephemeral(self) -> list[dict[str, Any]]:
        """Every ephemeral message (shown to one user only)."""
        return list(self._get("_emulator/ephemeral"))

    def files(self) -> list[dict[str, Any]]:
        """Every uploaded file, content in base64."""
        return list(self._get("_emulator/files"))

    def review_message(self, csr_name: str, timeout: float = 30.0, interval: float = 0.1) -> dict[str, Any]:
        """The approval request for a CSR in the review channel, once it has its buttons."""

        def posted() -> dict[str, Any] | None:
            for message in self.messages(self.channel):
                if (
                    message["thread_ts"] is None
                    and csr_name in message["text"]
                    and "csrgate_approve" in json.dumps(message["blocks"])
                ):
                    return message
            return None

        message = wait_for(f"the approval request for {csr_name} in Slack", posted, timeout, interval)
        # csrgate saves which message is the request's just after posting it: a click before that is told to wait
        wait_for(
            f"csrgate to save the approval request for {csr_name}", lambda: self._saved(message), timeout, interval
        )
        return message

    def _saved(self, message: dict[str, Any]) -> bool:
        """Whether intake logged the message's post as saved (csr.review_requested with its ts)."""
        log = self.home / "dev-up.log"
        needle = f'"ts":"{message["ts"]}"'
        return log.exists() and any(
            "csr.review_requested" in line and needle in line for line in log.read_text(errors="replace").splitlines()
        )

    def click(self, message: dict[str, Any], action_id: str, user: str) -> dict[str, Any]:
        """Click a button on a message as `user`; the service's HTTP status, how long it took and its answer."""
        body = {"channel": message["channel"], "ts": message["ts"], "action_id": action_id, "user": user}
        return dict(self._post("_emulator/click", body))

    def click_view(
        self, block_id: str, action_id: str, user: str, *, view_id: str | None = None, home: str | None = None
    ) -> dict[str, Any]:
        """Click a button in `user`'s modal `view_id`, or on the Home tab of `home` (a user id)."""
        target = {"view_id": view_id} if view_id is not None else {"home": home or user}
        return dict(
            self._post("_emulator/click", {**target, "block_id": block_id, "action_id": action_id, "user": user})
        )

    def command(self, user: str, command: str, text: str = "", channel: str | None = None) -> dict[str, Any]:
        """`user` types `/command text` (in their DM unless `channel`); the service's status and answer body."""
        body = {"user": user, "command": command, "text": text, **({"channel": channel} if channel else {})}
        return dict(self._post("_emulator/command", body))

    def shortcut(self, user: str, callback_id: str) -> dict[str, Any]:
        """`user` picks the global shortcut `callback_id`; the service's status and answer body."""
        return dict(self._post("_emulator/shortcut", {"user": user, "callback_id": callback_id}))

    def open_home(self, user: str) -> dict[str, Any]:
        """`user` opens the app's Home tab: {"user", "view" (the Home view published for them, or None), "status"}."""
        return dict(self._get(f"_emulator/home?{urlencode({'user': user})}"))

    def views(self) -> list[dict[str, Any]]:
        """Every modal the service opened, oldest first: the view with its id, "user", "state" (open or closed)
        and "errors" (the inline errors of its last submission)."""
        return list(self._get("_emulator/views"))

    def submit(self, view_id: str, user: str, values: dict[str, dict[str, str]]) -> dict[str, Any]:
        """Submit `user`'s open modal, inputs as {block_id: {action_id: text, or a select's option value}};
        the service's status and answer body."""
        return dict(self._post("_emulator/submit", {"view_id": view_id, "user": user, "values": values}))

    def run_at(self, function: str, when: datetime) -> dict[str, Any]:
        """Run a function of the stack once (the sweeper, say) with its clock at `when`; what it returned."""
        request = urllib.request.Request(
            f"{self.stack['api_url']}/_dev/run/{function}",
            data=json.dumps({"at": when.isoformat()}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            return dict(json.loads(answer.read()))

    def fail_next(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Make the stand-in answer the service's next Web API calls with this HTTP status."""
        self._post("_emulator/fail", {"status": status, "times": times, "retry_after": retry_after})

    def calls(self) -> list[dict[str, Any]]:
        """The Web API calls the service made, in order (method and arguments)."""
        return list(self._get("_emulator/calls"))

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.stack["slack_url"] + path, timeout=10) as answer:
            return json.loads(answer.read())

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        request = urllib.request.Request(
            self.stack["slack_url"] + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as refused:
            raise StackError(f"POST {path}: {refused.code} {refused.read().decode()}") from None
