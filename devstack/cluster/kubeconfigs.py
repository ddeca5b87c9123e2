"""The kubeconfig files the dev cluster writes for its identities."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CLUSTER_NAME = "csrgate-dev"
ADMIN_KUBECONFIG = "admin.kubeconfig"
APPROVER_KUBECONFIG = "approver.kubeconfig"


def kubeconfig(server: str, ca_pem: bytes, user: str, credentials: dict[str, str]) -> dict[str, Any]:
    """A kubeconfig with one cluster, one user and a current context joining them."""
    context = f"{user}@{CLUSTER_NAME}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CLUSTER_NAME,
                "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": context, "context": {"cluster": CLUSTER_NAME, "user": user}}],
        "current-context": context,
        "preferences": {},
    }


def client_certificate_credentials(certificate_pem: bytes, key_pem: bytes) -> dict[str, str]:
    """A user entry authenticating with an embedded client certificate and key."""
    return {
        "client-certificate-data": base64.b64encode(certificate_pem).decode(),
        "client-key-data": base64.b64encode(key_pem).decode(),
    }


def token_credentials(token: str) -> dict[str, str]:
    """A user entry authenticating with a bearer token."""
    return {"token": token}


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Write a kubeconfig readable only by its owner, as kubectl writes them."""
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        yaml.safe_dump(config, stream, sort_keys=False)
    os.replace(temporary, path)
