"""Through `csrgate dev up`, on `dev-eks`, a cluster that authenticates as EKS does: dana signs in with IAM (her own
AWS credentials, the people's role assumed with her email as the session name), asks for access in Slack, and the
kubeconfig csrgate sends her runs the real `aws eks get-token`; the access entry makes her `sso:dana-example.com`,
who may do nothing but what csrgate's grants allow."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import yaml
from e2e_support import APPROVE, REVOKE, ask_access, buttons, current, grant_message

from devstack.client import DevStackClient, wait_for
from devstack.harness import Kubectl

EKS = "dev-eks"


def test_dana_gets_edit_in_payments_on_eks_as_her_iam_session_and_loses_it_when_revoked(
    stack: DevStackClient, home: Path
) -> None:
    dana, alice = stack.user("dana"), stack.user("alice")
    admin = stack.stack["eks_kubeconfig"]
    stack.kubectl("create", "namespace", "payments", kubeconfig=admin, check=False)
    # WHEN dana asks for edit in payments on dev-eks, and alice approves
    assert ask_access(stack, dana, "edit", "payments", 3600, cluster=EKS)["response_action"] == "update"
    message = grant_message(stack, "sso:dana-example.com", f"edit in namespace payments on {EKS}")
    assert stack.click(message, APPROVE, alice)["status"] == 200
    # THEN her DM holds a kubeconfig that signs in with `aws eks get-token`, and how to set up the profile it names
    delivered = wait_for(
        "the kubeconfig in dana's DM",
        lambda: next((f for f in stack.files() if f["user"] == dana and f["name"].startswith(EKS)), None),
    )
    kubeconfig = home / delivered["name"]
    kubeconfig.write_bytes(base64.b64decode(delivered["content"]))
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    assert user["exec"]["command"] == "aws" and "get-token" in user["exec"]["args"], user
    assert "token" not in json.dumps(user).replace("get-token", "")  # nothing secret in it
    said = next(m["text"] for m in stack.messages(delivered["channel"]) if "role_session_name" in m["text"])
    profile = said[said.index("[profile") :].split("```")[0]
    # AND with her own AWS credentials (her profile `work`), kubectl is her IAM session, mapped by the access entry
    mine = stack.stack["users"][dana]["aws_env"]
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text(profile.replace("source_profile = default", "source_profile = work"))
    (home / ".aws" / "credentials").write_text(
        f"[work]\naws_access_key_id = {mine['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {mine['AWS_SECRET_ACCESS_KEY']}\n"
    )
    where = {key: mine[key] for key in ("AWS_ENDPOINT_URL", "AWS_REGION")}  # the local AWS stands for AWS
    kubectl = Kubectl(home, kubeconfig, env=where)
    whoami = kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", check=False)
    assert whoami.stdout == "sso:dana-example.com", whoami.stderr
    assert kubectl("auth", "can-i", "create", "configmaps", "-n", "payments", check=False).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "create", "configmaps", "-n", "default", check=False).stdout.strip() == "no"
    # WHEN alice revokes it THEN she may not any more
    assert REVOKE in buttons(stack, message)
    assert stack.click(message, REVOKE, alice)["status"] == 200
    wait_for(
        "edit revoked",
        lambda: kubectl("auth", "can-i", "create", "configmaps", "-n", "payments", check=False).stdout.strip() == "no",
    )
    wait_for("the message to say it ended", lambda: "ended" in current(stack, message)["text"])
