"""The requester's kubeconfig: loaded back by the Kubernetes client and by the real kubectl, and completed by the
exact set-credentials line it comes with."""

from __future__ import annotations

import base64
import datetime
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes.client import Configuration
from kubernetes.config.kube_config import KubeConfigLoader

from csrgate.domain.kubeconfig import (
    CertificateError,
    ClusterEndpoint,
    build_certificate_bundle,
    build_requester_kubeconfig,
)
from devstack.harness import KUBECTL, Kubectl

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)


def certificate(
    common_name: str, issuer_key: ec.EllipticCurvePrivateKey | None = None, ca: bool = False
) -> tuple[bytes, bytes]:
    """A certificate (PEM) and its key (PEM), self-signed unless an issuer key is given."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    built = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key or key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return built.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture(scope="module")
def cluster() -> ClusterEndpoint:
    ca_pem, _ = certificate("cluster-ca", ca=True)
    return ClusterEndpoint("prod-eu", "https://api.prod-eu.example.com:6443", ca_pem)


def test_the_kubernetes_client_loads_it_with_the_key_next_to_it(cluster: ClusterEndpoint, tmp_path: Path) -> None:
    cert_pem, key_pem = certificate("myuser")
    built = build_requester_kubeconfig(cluster, cert_pem)
    (tmp_path / built.key_path).write_bytes(key_pem)

    configuration = Configuration()
    loader = KubeConfigLoader(yaml.safe_load(built.text), config_base_path=str(tmp_path))
    loader.load_and_set(configuration)

    assert (built.user, built.context, built.key_path) == ("myuser", "myuser@prod-eu", "myuser.key")
    assert built.filename == "prod-eu-myuser.kubeconfig"
    assert configuration.host == cluster.server
    assert Path(configuration.ssl_ca_cert).read_bytes() == cluster.ca_pem
    assert Path(configuration.cert_file).read_bytes() == cert_pem
    assert configuration.key_file == str(tmp_path / "myuser.key")
    assert built.not_after == NOW + datetime.timedelta(days=1)


def test_kubectl_reads_it_and_the_set_credentials_line_embeds_the_key(cluster: ClusterEndpoint, tmp_path: Path) -> None:
    cert_pem, key_pem = certificate("myuser")
    built = build_requester_kubeconfig(cluster, cert_pem)
    (tmp_path / built.filename).write_text(built.text)
    (tmp_path / built.key_path).write_bytes(key_pem)

    kubectl = Kubectl(tmp_path, tmp_path / built.filename)
    viewed = json.loads(kubectl("config", "view", "--raw", "-o", "json").stdout)
    subprocess.run(
        built.set_credentials_command.replace("kubectl", str(KUBECTL), 1), shell=True, cwd=tmp_path, check=True,
        capture_output=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    completed = yaml.safe_load((tmp_path / built.filename).read_text())

    assert viewed["current-context"] == "myuser@prod-eu"
    assert viewed["clusters"][0]["cluster"]["server"] == cluster.server
    assert viewed["users"][0]["user"]["client-key"] == "myuser.key"
    assert built.set_credentials_command == (
        "kubectl --kubeconfig prod-eu-myuser.kubeconfig config set-credentials myuser "
        "--client-key=myuser.key --embed-certs=true"
    )
    user = completed["users"][0]["user"]
    assert base64.b64decode(user["client-key-data"]) == key_pem
    assert base64.b64decode(user["client-certificate-data"]) == cert_pem
    assert "client-key" not in user


def test_a_hostile_user_name_stays_data_in_the_yaml_and_in_the_command(
    cluster: ClusterEndpoint, tmp_path: Path
) -> None:
    hostile = "x'; touch pwned; echo '\n- evil: yes"
    cert_pem, key_pem = certificate(hostile)
    built = build_requester_kubeconfig(cluster, cert_pem, key_path="client.key")
    (tmp_path / built.filename).write_text(built.text)
    (tmp_path / "client.key").write_bytes(key_pem)

    subprocess.run(
        built.set_credentials_command.replace("kubectl", str(KUBECTL), 1), shell=True, cwd=tmp_path, check=True,
        capture_output=True, env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip

    assert not (tmp_path / "pwned").exists()
    assert "/" not in built.filename and " " not in built.filename
    users = yaml.safe_load((tmp_path / built.filename).read_text())["users"]
    assert [user["name"] for user in users] == [hostile]
    assert base64.b64decode(users[0]["user"]["client-key-data"]) == key_pem


def test_the_bundle_is_the_certificate_then_the_ca_with_any_text_around_dropped(cluster: ClusterEndpoint) -> None:
    cert_pem, _ = certificate("web.default.svc")

    bundle = build_certificate_bundle(b"issued by the signer\n" + cert_pem + b"trailing words\n", cluster.ca_pem)

    assert bundle == cert_pem.decode() + cluster.ca_pem.decode()


def test_what_is_not_a_certificate_is_refused(cluster: ClusterEndpoint) -> None:
    with pytest.raises(CertificateError, match="no PEM CERTIFICATE block"):
        build_requester_kubeconfig(
            cluster, b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        )
    with pytest.raises(CertificateError, match="cannot be parsed"):
        build_certificate_bundle(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
