"""The kubeconfig a requester receives, and the PEM bundle for serving certificates.

The private key never leaves the requester's machine, so the kubeconfig embeds the issued certificate and
points its user at a key file by path; the instructions carry the exact `kubectl config set-credentials` line
that embeds the key instead, as the Kubernetes docs task does with `--embed-certs=true`.
"""

from __future__ import annotations

import base64
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from csrgate.domain.asks import file_safe
from csrgate.domain.errors import CsrgateError

_PEM_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL)


class CertificateError(CsrgateError):
    """Bytes that are not the PEM certificate(s) they should be."""


@dataclass(frozen=True)
class ClusterEndpoint:
    """Where a cluster's API is and which CA signs its serving certificate."""

    name: str
    server: str
    ca_pem: bytes


@dataclass(frozen=True)
class RequesterKubeconfig:
    """A kubeconfig for one issued client certificate, and how the requester completes it."""

    text: str  # the YAML document
    filename: str  # a suggested file name
    user: str  # the certificate's CN, which the API server takes as the user name
    context: str
    key_path: str  # where the user entry expects the private key, relative to the kubeconfig's directory
    set_credentials_command: str  # embeds the key into the kubeconfig
    not_after: datetime
    not_before: datetime | None = None
    groups: tuple[str, ...] = ()  # the certificate's O values
    fingerprint: str = ""  # SHA-256 of the certificate's DER, hex: the API server's credential id for it


def read_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block in the text, first (the issued certificate) first; text around them is ignored."""
    blocks = _PEM_CERTIFICATE.findall(pem)
    if not blocks:
        raise CertificateError("no PEM CERTIFICATE block found")
    try:
        return [x509.load_pem_x509_certificate(block) for block in blocks]
    except ValueError as exc:
        raise CertificateError(f"a CERTIFICATE block cannot be parsed: {exc}") from exc


def build_requester_kubeconfig(
    cluster: ClusterEndpoint, certificate_pem: bytes, key_path: str | None = None
) -> RequesterKubeconfig:
    """The kubeconfig for the user the certificate names, with the cluster's server and CA."""
    chain = read_certificates(certificate_pem)
    user = _common_name(chain[0])
    safe_user = file_safe(user)
    key = key_path or f"{safe_user}.key"
    context = f"{user}@{cluster.name}"
    filename = f"{file_safe(cluster.name)}-{safe_user}.kubeconfig"
    chain_pem = b"".join(certificate.public_bytes(serialization.Encoding.PEM) for certificate in chain)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(cluster.ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": base64.b64encode(chain_pem).decode("ascii"), "client-key": key},
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": cluster.name, "user": user}}],
        "current-context": context,
        "preferences": {},
    }
    command = (
        f"kubectl --kubeconfig {shlex.quote(filename)} config set-credentials {shlex.quote(user)} "
        f"--client-key={shlex.quote(key)} --embed-certs=true"
    )
    return RequesterKubeconfig(
        text=yaml.safe_dump(document, sort_keys=False),
        filename=filename,
        user=user,
        context=context,
        key_path=key,
        set_credentials_command=command,
        not_after=chain[0].not_valid_after_utc,
        not_before=chain[0].not_valid_before_utc,
        groups=tuple(
            str(attribute.value) for attribute in chain[0].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        ),
        fingerprint=chain[0].fingerprint(hashes.SHA256()).hex(),
    )


def build_certificate_bundle(certificate_pem: bytes, ca_pem: bytes | None = None) -> str:
    """The issued certificate (and any intermediates), then the CA: plain PEM for a serving certificate."""
    blocks = read_certificates(certificate_pem) + (read_certificates(ca_pem) if ca_pem else [])
    return "".join(certificate.public_bytes(serialization.Encoding.PEM).decode("ascii") for certificate in blocks)


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or not isinstance(names[0].value, str) or not names[0].value:
        raise CertificateError("the certificate names no user (its subject has no CN)")
    return names[0].value


def build_access_kubeconfig(
    cluster: ClusterEndpoint, username: str, namespace: str | None, eks: EksCluster | None
) -> str:
    """A kubeconfig for access csrgate granted: the cluster's server and CA, a context in the granted namespace, and
    the user's own credentials. On EKS they come from `aws eks get-token` (IAM, through the cluster's access entry):
    when the cluster names the role its people assume, with the AWS profile (eks_profile) that assumes it under the
    person's session name, since `aws eks get-token --role-arn` always names its session EKSGetTokenAuth. Elsewhere
    the user entry is left for the person's own certificate or OIDC login. Nothing secret is in it."""
    user: dict[str, Any] = {}
    if eks is not None:
        args = ["--region", eks.region, "eks", "get-token", "--cluster-name", eks.name, "--output", "json"]
        exec_: dict[str, Any] = {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": args,
            "interactiveMode": "IfAvailable",
            "provideClusterInfo": False,
        }
        if eks.role_arn and eks.session_name:
            exec_["env"] = [{"name": "AWS_PROFILE", "value": eks_profile_name(eks.name)}]
        user = {"exec": exec_}
    context = f"{username}@{cluster.name}"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster.name,
                "cluster": {
                    "server": cluster.server,
                    "certificate-authority-data": base64.b64encode(cluster.ca_pem).decode("ascii"),
                },
            }
        ],
        "users": [{"name": username, "user": user}],
        "contexts": [
            {"name": context, "context": {"cluster": cluster.name, "user": username, **_in(namespace)}},
        ],
        "current-context": context,
        "preferences": {},
    }
    return yaml.safe_dump(document, sort_keys=False)


@dataclass(frozen=True)
class EksCluster:
    """An EKS cluster's name and region, for `aws eks get-token`; and the role its people assume to sign in, with the
    session name that makes them their Kubernetes user, when the cluster's access settings name one."""

    name: str
    region: str
    role_arn: str | None = None
    session_name: str | None = None


def eks_profile_name(cluster: str) -> str:
    """The AWS profile a delivered EKS kubeconfig signs in with: `csrgate-<cluster>`."""
    return f"csrgate-{cluster}"


def eks_profile(eks: EksCluster) -> str:
    """The ~/.aws/config section that assumes the people's role under the person's own session name (the name the
    role's trust policy lets only them use), from the credentials they sign in to AWS with."""
    return (
        f"[profile {eks_profile_name(eks.name)}]\n"
        f"role_arn = {eks.role_arn}\n"
        f"role_session_name = {eks.session_name}\n"
        "source_profile = default\n"
    )


def _in(namespace: str | None) -> dict[str, str]:
    return {"namespace": namespace} if namespace else {}
