"""The kubeconfig files the dev cluster writes for its identities."""

from __future__ import annotations

import base64
import datetime
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from devstack.cluster.auth import NODE_USER_PREFIX, SERVICE_ACCOUNT_USER_PREFIX, SERVICE_ACCOUNTS_GROUP
from devstack.cluster.pki import DevCa

CLUSTER_NAME = "csrgate-dev"
ADMIN_KUBECONFIG = "admin.kubeconfig"
APPROVER_KUBECONFIG = "approver.kubeconfig"
NODES_DIR = "nodes"
SERVICE_ACCOUNTS_DIR = "serviceaccounts"
USERS_DIR = "users"


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


def write_node_kubeconfig(data_dir: Path, server: str, node: str, now: datetime.datetime | None = None) -> Path:
    """A kubeconfig for node `node`, as its kubelet has after TLS bootstrap: a client certificate from the CA kept
    in the dev cluster's `data_dir` (CN system:node:<node>, O system:nodes), written to DIR/nodes/<node>.kubeconfig.
    The cluster need not be running; `server` is its URL."""
    ca = DevCa.load(data_dir)
    pair = ca.node_key_pair(node, now or datetime.datetime.now(datetime.UTC))
    config = kubeconfig(
        server,
        ca.certificate_pem,
        NODE_USER_PREFIX + node,
        client_certificate_credentials(pair.certificate_pem, pair.key_pem),
    )
    path = data_dir / NODES_DIR / f"{node}.kubeconfig"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_kubeconfig(path, config)
    return path


def write_service_account_kubeconfig(
    data_dir: Path, server: str, namespace: str, name: str, now: datetime.datetime | None = None
) -> Path:
    """A kubeconfig for service account `namespace/name`: user system:serviceaccount:<namespace>:<name> in groups
    system:serviceaccounts and system:serviceaccounts:<namespace>, as its token names it to a real API server.
    Here a client certificate from the CA in `data_dir` carries that identity, so a running cluster accepts it
    without a new token; it is written to DIR/serviceaccounts/<namespace>-<name>.kubeconfig."""
    user = f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"
    ca = DevCa.load(data_dir)
    groups = [SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}"]
    pair = ca.client_key_pair(user, groups, now or datetime.datetime.now(datetime.UTC))
    config = kubeconfig(
        server, ca.certificate_pem, user, client_certificate_credentials(pair.certificate_pem, pair.key_pem)
    )
    path = data_dir / SERVICE_ACCOUNTS_DIR / f"{namespace}-{name}.kubeconfig"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_kubeconfig(path, config)
    return path


def write_user_kubeconfig(
    data_dir: Path, server: str, user: str, groups: Sequence[str] = (), now: datetime.datetime | None = None
) -> Path:
    """A kubeconfig for a person: a client certificate from the CA in `data_dir` naming `user` (CN) in `groups` (O),
    written to DIR/users/<user>.kubeconfig. Such a user may do what `system:authenticated` may until a binding grants
    more, as someone who was just issued a certificate."""
    ca = DevCa.load(data_dir)
    pair = ca.client_key_pair(user, list(groups), now or datetime.datetime.now(datetime.UTC))
    config = kubeconfig(
        server, ca.certificate_pem, user, client_certificate_credentials(pair.certificate_pem, pair.key_pem)
    )
    path = data_dir / USERS_DIR / f"{user}.kubeconfig"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    write_kubeconfig(path, config)
    return path
