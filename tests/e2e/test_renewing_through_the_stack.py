"""Through `csrgate dev up`: a first certificate approved by a person, then its holder renews it herself with the
certificate she has, as a kubelet renews its own, and nobody is asked; anything more than a renewal goes to review."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import yaml
from cryptography import x509
from e2e_support import (
    asked_csr,
    audit_events,
    csr_names,
    delivered_kubeconfig,
    kubeconfigs_of,
    open_form,
    openssl_csr,
    submit,
)

from devstack.client import DevStackClient, wait_for
from devstack.harness import Kubectl


def first_user(text: str) -> bool:
    return "certificate for 'dana' on dev" in text


def renewal_manifest(name: str, csr_pem: bytes) -> str:
    return json.dumps(
        {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"name": name},
            "spec": {
                "request": base64.b64encode(csr_pem).decode(),
                "signerName": "kubernetes.io/kube-apiserver-client",
                "usages": ["client auth"],
                "expirationSeconds": 3600,
            },
        }
    )


def new_csr(home: Path, subject: str, stem: str) -> bytes:
    subprocess.run(
        [
            "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(home / f"{stem}.key"), "-subj", subject, "-out", str(home / f"{stem}.csr"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return (home / f"{stem}.csr").read_bytes()


def test_a_first_certificate_approved_by_a_person_then_renewed_by_its_holder_without_anyone(
    stack: DevStackClient, home: Path
) -> None:
    dana = stack.user("dana")
    # GIVEN dana's first certificate, asked for in Slack and approved by alice
    before, seen = csr_names(stack), len(kubeconfigs_of(stack, "dana"))
    submit(stack, open_form(stack, dana), dana, openssl_csr(home, "dana"))
    first = asked_csr(stack, "dana", before)
    assert stack.click(stack.review_message(first), "csrgate_approve", stack.user("alice"))["status"] == 200
    kubeconfig = delivered_kubeconfig(stack, "dana", home, seen)
    danas = Kubectl(home, kubeconfig)
    # WHEN the sweeper runs once 80% of that certificate's life has passed (its clock moved, nothing else's)
    certificate = x509.load_pem_x509_certificate(
        base64.b64decode(yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["client-certificate-data"])
    )
    life = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    stack.run_at("SweeperFunction", certificate.not_valid_before_utc + life * 0.81)
    # THEN dana has a DM saying what expires when, with the lines that renew it
    reminder = wait_for(
        "the reminder",
        lambda: [m["text"] for m in stack.messages(f"D{dana}") if "expires" in m["text"] and first_user(m["text"])],
    )
    assert "apply -f -" in reminder[-1] and "-subj /CN=dana" in reminder[-1]
    # WHEN she applies a renewal with the certificate she has, for the same user and no more groups
    renewed = f"dana-renewal-{len(before)}"
    danas("apply", "-f", "-", stdin=renewal_manifest(renewed, new_csr(home, "/CN=dana", "dana-next")))
    # THEN csrgate approves it by policy, nobody clicking, and delivers the new kubeconfig, which is her
    wait_for(f"{renewed} Approved,Issued", lambda: stack.condition(renewed) == "Approved,Issued", timeout=60)
    (home / "next").mkdir()
    (home / "next" / "dana.key").write_bytes((home / "dana-next.key").read_bytes())
    second = delivered_kubeconfig(stack, "dana", home / "next", seen + 1)
    whoami = Kubectl(home / "next", second)("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == "dana", whoami.stderr
    approved = [e for e in audit_events(stack, "csr.policy_verdict") if e.get("csr_name") == renewed]
    assert approved and approved[0]["verdict"] == "approve" and "renewal" in approved[0]["finding_codes"]
    # WHEN she asks, with that certificate, for a group it does not carry: a person must decide
    more = f"dana-more-{len(before)}"
    danas("apply", "-f", "-", stdin=renewal_manifest(more, new_csr(home, "/CN=dana/O=payments", "dana-more")))
    message = stack.review_message(more)
    assert "payments" in json.dumps(message["blocks"]) and stack.condition(more) == "Pending"
    # AND someone else's identity asking for her name is a review too
    other = f"not-dana-{len(before)}"
    stack.kubectl("apply", "-f", "-", stdin=renewal_manifest(other, new_csr(home, "/CN=dana", "other")))
    stack.review_message(other)
    assert stack.condition(other) == "Pending"
