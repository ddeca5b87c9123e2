"""Ways into the dev cluster for tests: raw HTTPS, and CSR manifests as the docs write them."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devstack.cluster import DevCluster
from devstack.harness import Kubectl


def csr_manifest(name: str, csr_pem: bytes, **spec: Any) -> str:
    """A CertificateSigningRequest manifest as the Kubernetes docs write it."""
    body: dict[str, Any] = {
        "request": base64.b64encode(csr_pem).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client",
        "expirationSeconds": 86400,
        "usages": ["client auth"],
    }
    body.update(spec)
    document = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest"}
    document.update(metadata={"name": name}, spec={k: v for k, v in body.items() if v is not None})
    return yaml.safe_dump(document)


@dataclass
class Identity:
    """A client certificate and key, or a bearer token, for raw HTTPS requests."""

    certificate: Path | None = None
    key: Path | None = None
    token: str | None = None


def admin_identity(cluster: DevCluster, directory: Path) -> Identity:
    """The admin's certificate and key, taken out of admin.kubeconfig."""
    config = yaml.safe_load(cluster.admin_kubeconfig.read_text())
    user = config["users"][0]["user"]
    certificate, key = directory / "admin.crt", directory / "admin.key"
    certificate.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    return Identity(certificate, key)


@dataclass
class HttpAnswer:
    """Status code, headers and body of a raw request."""

    code: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def https(
    cluster: DevCluster,
    method: str,
    path: str,
    identity: Identity | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One raw HTTPS request to the dev cluster (for what no client sends on purpose)."""
    context = ssl.create_default_context(cafile=str(cluster.ca_path))
    if identity and identity.certificate and identity.key:
        context.load_cert_chain(identity.certificate, identity.key)
    connection = http.client.HTTPSConnection("127.0.0.1", cluster.port, context=context, timeout=10)
    sent = dict(headers or {})
    if identity and identity.token:
        sent["Authorization"] = f"Bearer {identity.token}"
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        return HttpAnswer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def unique(stem: str) -> str:
    """A name of a test's own: the dev cluster is shared."""
    return f"{stem}-{uuid.uuid4().hex[:6]}"


def namespace_of_its_own(kubectl: Kubectl, stem: str) -> Iterator[str]:
    """A namespace made by the admin for one test, deleted afterwards with what is in it (a fixture's body)."""
    created = unique(stem)
    kubectl("create", "namespace", created)
    yield created
    kubectl("delete", "namespace", created, "--wait=false", check=False)


def person(cluster: DevCluster, stem: str) -> tuple[str, Path]:
    """A person of a test's own, with a client certificate from the cluster CA and no binding yet."""
    user = unique(stem)
    return user, cluster.user_kubeconfig(user)
