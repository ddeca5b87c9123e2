"""`make demo`: the Kubernetes docs task for a normal user, with csrgate and Slack in the middle, narrated.

Run as `python -m devstack.demo`. Exits 0 only if every step did what it says; stops everything it started.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from devstack.client import DevStackClient, StackError, running_dev_up, wait_for
from devstack.harness import Kubectl

USER = "myuser"
DENIED = "myuser-admin"
REQUESTER = "dana"  # the stack's requester (not an approver); her email goes in the annotation
APPROVER = "alice"
_started = time.monotonic()


def say(text: str) -> None:
    """One narration line, with the seconds since the demo started."""
    print(f"[{time.monotonic() - _started:5.1f}s] {text}", flush=True)


def show(text: str) -> None:
    """Output worth reading, indented under the narration."""
    print(textwrap.indent(text.rstrip(), "        | "), flush=True)


def csr_manifest(name: str, csr_pem: bytes, email: str) -> str:
    """The docs' CertificateSigningRequest, with the requester's email for csrgate."""
    return textwrap.dedent(
        f"""\
        apiVersion: certificates.k8s.io/v1
        kind: CertificateSigningRequest
        metadata:
          name: {name}
          annotations:
            csrgate.io/requester-email: {email}
        spec:
          request: {base64.b64encode(csr_pem).decode()}
          signerName: kubernetes.io/kube-apiserver-client
          expirationSeconds: 86400
          usages:
          - client auth
        """
    )


def openssl(*args: str, cwd: Path) -> None:
    """Run openssl as the docs do."""
    show("$ openssl " + " ".join(shlex.quote(a) for a in args))
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def approve_path(stack: DevStackClient, work: Path) -> None:
    """Key, CSR, apply, Slack, click, issued, kubeconfig, whoami."""
    email = stack.stack["users"][stack.user(REQUESTER)]["email"]
    say(f"1. {REQUESTER} makes a private key and a CSR for {USER} with openssl")
    openssl("genrsa", "-out", f"{USER}.key", "2048", cwd=work)
    openssl("req", "-new", "-key", f"{USER}.key", "-out", f"{USER}.csr", "-subj", f"/CN={USER}", cwd=work)
    say(f"2. kubectl apply -f {USER}-csr.yaml (annotated csrgate.io/requester-email: {email})")
    show(stack.kubectl("apply", "-f", "-", stdin=csr_manifest(USER, (work / f"{USER}.csr").read_bytes(), email)).stdout)
    say("3. the forwarder sends it to csrgate, which asks for a review in Slack:")
    message = stack.review_message(USER)
    show(message["text"])
    say(f"4. {APPROVER}, an approver, clicks Approve")
    answer = stack.click(message, "csrgate_approve", stack.user(APPROVER))
    if answer["status"] != 200:
        raise StackError(f"the interactions URL answered {answer['status']}")
    show(f"Slack got HTTP {answer['status']} in {answer['elapsed_ms']} ms")
    say("5. the worker approves it in the cluster and the signer issues it:")
    wait_for(f"{USER} to be Approved,Issued", lambda: stack.condition(USER) == "Approved,Issued")
    show(stack.kubectl("get", "csr", USER).stdout)
    say(f"6. {REQUESTER} finds her kubeconfig in a DM from csrgate")
    user_id = stack.user(REQUESTER)
    delivered = wait_for("the kubeconfig DM", lambda: next((f for f in stack.files() if f["user"] == user_id), None))
    kubeconfig = work / delivered["name"]
    kubeconfig.write_bytes(base64.b64decode(delivered["content"]))
    said = stack.messages(delivered["channel"])
    comment = next(m["text"] for m in said if "set-credentials" in m["text"] and delivered["name"] in m["text"])
    show(f"{delivered['name']}, with: {comment.splitlines()[0]}")
    command = next(line.strip("` ") for line in comment.splitlines() if "set-credentials" in line)
    say("7. she adds her key with the line that came with it")
    show("$ " + command)
    Kubectl(work)(*shlex.split(command)[1:])
    say("8. and asks the cluster who she is")
    whoami = Kubectl(work, kubeconfig)("auth", "whoami", check=False)
    show("$ kubectl auth whoami\n" + whoami.stdout + whoami.stderr)
    if whoami.returncode != 0 or USER not in whoami.stdout.split():
        raise StackError(f"kubectl auth whoami did not print {USER}")


def denial_path(stack: DevStackClient, work: Path) -> None:
    """A CSR asking for kubeadm:cluster-admins: denied by policy, reason in the cluster, listed in Slack's digest."""
    email = stack.stack["users"][stack.user(REQUESTER)]["email"]
    say(f"9. now a CSR for {DENIED} in the group kubeadm:cluster-admins")
    openssl("genrsa", "-out", f"{DENIED}.key", "2048", cwd=work)
    subject = f"/CN={DENIED}/O=kubeadm:cluster-admins"
    openssl("req", "-new", "-key", f"{DENIED}.key", "-out", f"{DENIED}.csr", "-subj", subject, cwd=work)
    stack.kubectl("apply", "-f", "-", stdin=csr_manifest(DENIED, (work / f"{DENIED}.csr").read_bytes(), email))
    say("10. csrgate's policy denies it in the cluster without asking anyone:")
    wait_for(f"{DENIED} to be Denied", lambda: stack.condition(DENIED) == "Denied")
    show(stack.kubectl("get", "csr", DENIED).stdout)
    conditions = (stack.csr(DENIED) or {}).get("status", {}).get("conditions", [])
    denied = next(c for c in conditions if c["type"] == "Denied")
    show(f"reason: {denied['reason']}\nmessage: {denied.get('message', '')}")
    if denied["reason"] != "CsrgatePolicyDenied":
        raise StackError(f"the Denied condition's reason is {denied['reason']}, not CsrgatePolicyDenied")
    say("11. and says so in Slack, in the digest of the minute's automatic decisions:")
    digest = wait_for(
        "the digest listing the denial in Slack",
        lambda: next((m for m in stack.messages(stack.channel) if f"Denied {DENIED}" in json.dumps(m["blocks"])), None),
    )
    show(digest["text"])


def main() -> int:
    """Start the stack in a temporary directory, walk both paths, stop the stack."""
    with tempfile.TemporaryDirectory(prefix="csrgate-demo-") as temporary:
        root = Path(temporary)
        work = root / "home"
        work.mkdir()
        say("starting csrgate dev up: dev cluster, moto, local API Gateway, functions, forwarder, Slack stand-in")
        try:
            with running_dev_up(root / "stack") as stack:
                say(f"ready: Slack page {stack.stack['slack_url']}, API {stack.stack['api_url']}")
                approve_path(stack, work)
                denial_path(stack, work)
        except (StackError, subprocess.CalledProcessError) as failure:
            say(f"FAILED: {failure}")
            log = root / "stack" / "dev-up.log"
            if log.exists():
                print(textwrap.indent("\n".join(log.read_text().splitlines()[-30:]), "    log | "), file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            say("interrupted; everything started has been stopped")
            return 130
    say(f"done: {USER} is who kubectl says, and the policy kept {DENIED} out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
