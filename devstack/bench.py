"""End-to-end figures on the dev stack: apply to Slack message, click to HTTP answer, click to delivered kubeconfig,
and a certificate asked for in Slack, from the form's submission to the kubeconfig in the asker's DM.

Run as `python -m devstack.bench [REQUESTS]`; prints a Markdown table (median and 95th percentile, milliseconds).
Times are taken by polling the stand-in every 10 ms, so each figure may be up to 10 ms late; "apply" starts when
kubectl is started.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from csrgate.domain.asking import MAX_ASKS_PER_HOUR
from devstack.client import DevStackClient, running_dev_up, wait_for
from devstack.demo import csr_manifest

POLL = 0.01


def one_request(stack: DevStackClient, name: str, key: rsa.RSAPrivateKey) -> tuple[float, float, float]:
    """Apply a CSR, wait for its Slack message, click Approve, wait for the kubeconfig; three durations in ms."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    dana = stack.user("dana")
    email = stack.stack["users"][dana]["email"]
    manifest = csr_manifest(name, csr.public_bytes(serialization.Encoding.PEM), email)
    applied = time.monotonic()  # before kubectl starts: its own start-up and discovery are part of what a user waits
    stack.kubectl("apply", "-f", "-", stdin=manifest)
    message = stack.review_message(name, interval=POLL)
    posted = time.monotonic()
    # dana asks for a user that is not hers, so two approvers must agree: the second click decides
    stack.click(message, "csrgate_approve", stack.user("bob"))
    clicked = time.monotonic()
    answer = stack.click(message, "csrgate_approve", stack.user("alice"))
    wait_for(
        f"the kubeconfig for {name}",
        lambda: any(f["user"] == dana and name in f["name"] for f in stack.files()),
        interval=POLL,
    )
    delivered = time.monotonic()
    return (posted - applied) * 1000, float(answer["elapsed_ms"]), (delivered - clicked) * 1000


def one_ask(stack: DevStackClient, key: rsa.RSAPrivateKey) -> tuple[float, float, float]:
    """dana asks in Slack (shortcut, form), alice approves at once: the shortcut's answer, submission to the approval
    request, and submission to the kubeconfig in dana's DM (less the approver's time, which is a click here)."""
    dana = stack.user("dana")
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dana")])
    pem = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    seen_views, seen_files = {v["id"] for v in stack.views()}, len(stack.files())
    shortcut = stack.shortcut(dana, "csrgate_request_certificate")
    form = wait_for("the form", lambda: next((v for v in stack.views() if v["id"] not in seen_views), None))
    values = {
        "cluster": {"cluster": "dev"},
        "csr": {"csr": pem.public_bytes(serialization.Encoding.PEM).decode()},
        "lifetime": {"lifetime": "3600"},
        "reason": {"reason": "benchmark"},
    }
    posted_before = {m["ts"] for m in stack.messages(stack.channel)}
    submitted = time.monotonic()
    stack.submit(form["id"], dana, values)
    message = wait_for(
        "the approval request",
        lambda: next((m for m in stack.messages(stack.channel) if m["ts"] not in posted_before), None),
        interval=POLL,
    )
    posted = time.monotonic()
    stack.click(message, "csrgate_approve", stack.user("alice"))
    wait_for("the kubeconfig in dana's DM", lambda: len(stack.files()) > seen_files, interval=POLL)
    delivered = time.monotonic()
    return float(shortcut["elapsed_ms"]), (posted - submitted) * 1000, (delivered - submitted) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def main(argv: list[str]) -> int:
    """Run the requests one after another on a fresh stack and print the table."""
    requests = int(argv[0]) if argv else 50
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with tempfile.TemporaryDirectory(prefix="csrgate-bench-") as temporary, running_dev_up(Path(temporary)) as stack:
        results = [one_request(stack, f"bench-{i}", key) for i in range(requests)]
        asks = [one_ask(stack, key) for _ in range(MAX_ASKS_PER_HOUR)]  # as many as one person may make
    labels = ["kubectl apply to Slack message", "click to the HTTP answer Slack sees", "click to delivered kubeconfig"]
    ask_labels = [
        "Slack shortcut to the HTTP answer (form opened)",
        "form submitted to the approval request",
        "form submitted to kubeconfig in the DM (one click)",
    ]
    print(
        f"{requests} requests and {len(asks)} asks in Slack, one at a time, on {platform.machine()} "
        f"({os.cpu_count()} CPUs), {platform.system()}"
    )
    print(f"Python {platform.python_version()}\n")
    print("| path | median ms | p95 ms |\n|---|---:|---:|")
    for label, values in [
        *zip(labels, zip(*results, strict=True), strict=True),
        *zip(ask_labels, zip(*asks, strict=True), strict=True),
    ]:
        print(f"| {label} | {statistics.median(values):.0f} | {percentile(list(values), 0.95):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
