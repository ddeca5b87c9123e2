"""What the end-to-end tests read back from `csrgate dev up` (the audit log, CSR conditions, Slack messages), and the
steps of asking in Slack for a certificate or for access, and of using what comes back."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

from devstack.client import DevStackClient, wait_for
from devstack.harness import Kubectl


def audit_events(stack: DevStackClient, event: str) -> list[dict[str, Any]]:
    """The functions' log lines (Powertools JSON in dev up's output) for one audit event."""
    lines = []
    for line in (stack.home / "dev-up.log").read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("message") == event:
                lines.append(entry)
    return lines


def about(events: list[dict[str, Any]], csr_name: str) -> list[dict[str, Any]]:
    """The audit events about one CSR."""
    return [event for event in events if event.get("csr_name") == csr_name]


def condition(stack: DevStackClient, name: str, kind: str) -> dict[str, str]:
    """The CSR's condition of one type (Approved, Denied ...), waited for."""

    def present() -> dict[str, str] | None:
        conditions = (stack.csr(name) or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == kind), None)

    return wait_for(f"{name} to have a {kind} condition", present)


def current(stack: DevStackClient, message: dict[str, Any]) -> dict[str, Any]:
    """The message as Slack shows it now."""
    return next(m for m in stack.messages(str(message["channel"])) if m["ts"] == message["ts"])


FORM = "csrgate_certificate_request"
SHORTCUT = "csrgate_request_certificate"


def open_form(stack: DevStackClient, user: str, shortcut: str = SHORTCUT, form: str = FORM) -> dict[str, Any]:
    """`user` picks the shortcut: the form Slack shows them (the certificate form unless told)."""
    seen = {view["id"] for view in stack.views()}
    answered = stack.shortcut(user, shortcut)
    assert answered["status"] == 200, answered
    return wait_for(
        "the form",
        lambda: next(
            (v for v in stack.views() if v["id"] not in seen and v["user"] == user and v.get("callback_id") == form),
            None,
        ),
    )


def openssl_csr(home: Path, cn: str) -> str:
    """A key and a CSR made as the form's hint says, with the real openssl; the CSR's PEM."""
    subprocess.run(
        [
            "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(home / f"{cn}.key"), "-subj", f"/CN={cn}", "-out", str(home / f"{cn}.csr"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (home / f"{cn}.csr").read_text()


def submit(stack: DevStackClient, view: dict[str, Any], user: str, pem: str, cluster: str = "dev") -> dict[str, Any]:
    lifetime = view["blocks"][2]["element"]["options"][0]["value"]
    values = {
        "cluster": {"cluster": cluster},
        "csr": {"csr": pem},
        "lifetime": {"lifetime": lifetime},
        "reason": {"reason": "joining the payments team"},
    }
    answered = stack.submit(view["id"], user, values)
    assert answered["status"] == 200, answered
    return dict(answered["body"] or {})


def asked_csr(stack: DevStackClient, cn: str, before: set[str]) -> str:
    """The name of the CSR csrgate created for `cn`'s ask."""

    def created() -> str | None:
        listed = json.loads(stack.kubectl("get", "csr", "-o", "json").stdout)["items"]
        return next(
            (
                csr["metadata"]["name"]
                for csr in listed
                if csr["metadata"]["name"] not in before and csr["metadata"]["name"].startswith(f"csrgate-{cn}-")
            ),
            None,
        )

    return wait_for(f"the CSR created for {cn}", created)


def csr_names(stack: DevStackClient) -> set[str]:
    return {csr["metadata"]["name"] for csr in json.loads(stack.kubectl("get", "csr", "-o", "json").stdout)["items"]}


def kubeconfigs_of(stack: DevStackClient, user: str) -> list[dict[str, Any]]:
    """The kubeconfig files in `user`'s DM, oldest first."""
    slack_id = stack.user(user)
    return [f for f in stack.files() if f["user"] == slack_id and f["name"].endswith(".kubeconfig")]


def delivered_kubeconfig(stack: DevStackClient, user: str, home: Path, seen: int) -> Path:
    """The kubeconfig in `user`'s DM after the first `seen` ones, written to `home` with their key added by the line
    it came with (the key is `home`/<user name>.key, as the form's openssl line makes it)."""

    def mine() -> list[dict[str, Any]]:
        return kubeconfigs_of(stack, user)

    delivered = wait_for(f"kubeconfig {seen + 1} in {user}'s DM", lambda: mine()[seen] if len(mine()) > seen else None)
    kubeconfig = home / delivered["name"]
    kubeconfig.write_bytes(base64.b64decode(delivered["content"]))
    # the line is in the message posted just before the file (the latest naming it: a renewal comes as the same file)
    said = [m["text"] for m in stack.messages(delivered["channel"]) if f"--kubeconfig {delivered['name']}" in m["text"]]
    command = next(line.strip("` ") for line in said[-1].splitlines() if "set-credentials" in line)
    Kubectl(home)(*shlex.split(command)[1:])
    return kubeconfig


# --- asking for access -----------------------------------------------------------------------------------------

ACCESS_SHORTCUT, ACCESS_FORM = "csrgate_request_access", "csrgate_access_request"
APPROVE, DENY, REVOKE = "csrgate_grant_approve", "csrgate_grant_deny", "csrgate_grant_revoke"


def ask_access(
    stack: DevStackClient,
    user: str,
    role: str,
    namespace: str,
    seconds: int,
    reason: str = "deploying the fix",
    cluster: str = "dev",
) -> dict[str, Any]:
    """`user` opens "Request access" and submits it; csrgate's answer to the submission."""
    view = open_form(stack, user, ACCESS_SHORTCUT, ACCESS_FORM)
    values = {
        "cluster": {"cluster": cluster},
        "role": {"role": role},
        "namespace": {"namespace": namespace},
        "duration": {"duration": str(seconds)},
        "reason": {"reason": reason},
    }
    answered = stack.submit(view["id"], user, values)
    assert answered["status"] == 200, answered
    return dict(answered["body"] or {})


def grant_message(stack: DevStackClient, username: str, what: str) -> dict[str, Any]:
    """The grant's review message in the channel, once csrgate saved which message it is."""

    def posted() -> dict[str, Any] | None:
        for message in stack.messages(stack.channel):
            blocks = json.dumps(message["blocks"])
            if APPROVE in blocks and f"for {username}" in message["text"] and what in message["text"]:
                return message
        return None

    message = wait_for(f"the access request of {username} in Slack", posted)
    wait_for(
        "csrgate to save the grant's message",
        lambda: any(e.get("ts") == message["ts"] for e in audit_events(stack, "slack.grant_posted")),
    )
    return message


def namespace(stack: DevStackClient, name: str) -> str:
    """A namespace the cluster's admin made (the dev cluster starts with Kubernetes' own only)."""
    stack.kubectl("create", "namespace", name, check=False)  # AlreadyExists when another test made it
    return name


def can_i(stack: DevStackClient, kubeconfig: str, *what: str) -> str:
    """`kubectl auth can-i` as the kubeconfig's user: yes or no."""
    return stack.kubectl("auth", "can-i", *what, kubeconfig=kubeconfig, check=False).stdout.strip()


def buttons(stack: DevStackClient, message: dict[str, Any]) -> set[str]:
    shown = current(stack, message)
    return {
        element["action_id"] for block in shown["blocks"] if block["type"] == "actions" for element in block["elements"]
    }
