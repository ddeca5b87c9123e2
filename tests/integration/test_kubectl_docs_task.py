"""The Kubernetes docs task "Issue a certificate for a Kubernetes API client using a CertificateSigningRequest",
step by step with the real kubectl against the dev cluster."""

from __future__ import annotations

import base64
import datetime
import re
import subprocess
from pathlib import Path

from cluster_access import csr_manifest
from cryptography import x509

from devstack.cluster import DevCluster
from devstack.harness import Kubectl

DOCS_MANIFEST = Path(__file__).parent.parent / "fixtures" / "docs-myuser.yaml"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_kubectl_drives_the_docs_task_and_whoami_prints_the_new_user(kubectl: Kubectl, dev_cluster: DevCluster) -> None:
    home = kubectl.home
    # GIVEN a key and a CSR made as the docs make them, in the docs' manifest
    openssl("genrsa", "-out", "myuser.key", "3072", cwd=home)
    openssl("req", "-new", "-key", "myuser.key", "-out", "myuser.csr", "-subj", "/CN=myuser", cwd=home)
    request = base64.b64encode((home / "myuser.csr").read_bytes()).decode()
    manifest = re.sub(r"(?m)^  request: .*$", f"  request: {request}", DOCS_MANIFEST.read_text())
    (home / "myuser.yaml").write_text(manifest)

    # WHEN the admin creates it
    created = kubectl("apply", "-f", "myuser.yaml")
    listed = kubectl("get", "csr", "myuser")

    # THEN it is pending, shown with the columns a real cluster prints
    assert created.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/myuser created"
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert row.split()[0] == "myuser"
    assert row.split()[2:] == ["kubernetes.io/kube-apiserver-client", "csrgate-admin", "24h", "Pending"]

    # WHEN it is approved, and the certificate taken out as the docs do
    approved = kubectl("certificate", "approve", "myuser")
    issued = _until_issued(kubectl, "myuser")
    certificate = base64.b64decode(kubectl("get", "csr", "myuser", "-o", "jsonpath={.status.certificate}").stdout)
    (home / "myuser.crt").write_bytes(certificate)

    # THEN the certificate is for myuser, signed by the cluster CA, for the day asked (backdated 5 minutes)
    assert approved.stdout.strip() == "certificatesigningrequest.certificates.k8s.io/myuser approved"
    assert issued.split()[-1] == "Approved,Issued"
    parsed = x509.load_pem_x509_certificate(certificate)
    ca = x509.load_pem_x509_certificate(dev_cluster.ca_path.read_bytes())
    assert parsed.subject.rfc4514_string() == "CN=myuser"
    assert parsed.issuer == ca.subject
    lifetime = parsed.not_valid_after_utc - parsed.not_valid_before_utc
    assert lifetime == datetime.timedelta(days=1)
    assert abs(parsed.not_valid_before_utc - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(minutes=6)

    # WHEN the user's credentials go into the kubeconfig as the docs add them
    kubectl(
        "config",
        "set-credentials",
        "myuser",
        "--client-key=myuser.key",
        "--client-certificate=myuser.crt",
        "--embed-certs=true",
    )
    kubectl("config", "set-context", "myuser", "--cluster=csrgate-dev", "--user=myuser")
    whoami = kubectl("--context", "myuser", "auth", "whoami")
    forbidden = kubectl("--context", "myuser", "get", "csr", check=False)

    # THEN the cluster knows them as myuser, an authenticated user with no other rights
    assert whoami.stdout.split("\n")[1].split() == ["Username", "myuser"]
    assert "[system:authenticated]" in whoami.stdout
    assert forbidden.returncode == 1
    assert 'User "myuser" cannot list resource "certificatesigningrequests"' in forbidden.stderr


def test_kubectl_certificate_deny_denies_and_nothing_is_issued(kubectl: Kubectl, name: str) -> None:
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, _csr(kubectl.home, "mallory")))

    denied = kubectl("certificate", "deny", name)
    approve_after = kubectl("certificate", "approve", name, check=False)
    shown = kubectl("get", "csr", name, "-o", "jsonpath={.status.conditions[0].type} {.status.conditions[0].reason}")
    listed = kubectl("get", "csr", name, "--no-headers")

    assert denied.stdout.strip() == f"certificatesigningrequest.certificates.k8s.io/{name} denied"
    assert f'certificate signing request "{name}" is already Denied' in approve_after.stderr
    assert shown.stdout == "Denied KubectlDeny"
    assert listed.stdout.split()[-1] == "Denied"


def test_kubectl_get_watch_shows_the_csr_move_from_pending_to_issued(kubectl: Kubectl, name: str) -> None:
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, _csr(kubectl.home, "wanda")))
    watcher = kubectl.popen("get", "csr", name, "--watch", "--output-watch-events")
    assert watcher.stdout is not None
    header, added = watcher.stdout.readline().split(), watcher.stdout.readline().split()

    kubectl("certificate", "approve", name)
    changes = []
    while not changes or changes[-1][-1] != "Approved,Issued":
        changes.append(watcher.stdout.readline().split())
    watcher.kill()
    watcher.wait()

    assert header == ["EVENT", "NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    assert (added[0], added[1], added[-1]) == ("ADDED", name, "Pending")
    assert [(change[0], change[-1]) for change in changes] == [
        ("MODIFIED", "Approved"),
        ("MODIFIED", "Approved,Issued"),
    ]


def _csr(directory: Path, common_name: str, subject: str | None = None) -> bytes:
    key = directory / f"{common_name}.key"
    if not key.exists():
        openssl("genrsa", "-out", key.name, "2048", cwd=directory)
    out = subprocess.run(
        ["openssl", "req", "-new", "-key", key.name, "-subj", subject or f"/CN={common_name}"],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    return out.stdout


def _until_issued(kubectl: Kubectl, name: str) -> str:
    """The CSR's row once the signer has acted; the signer runs in the background, as the controller does."""
    for _ in range(100):
        row = kubectl("get", "csr", name, "--no-headers").stdout
        if "Issued" in row or "Failed" in row:
            return row
    raise AssertionError(f"{name} was not issued: {row}")
