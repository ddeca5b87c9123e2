"""What a requester receives once their CSR is signed: a kubeconfig embedding the certificate and pointing at their
key, the command that embeds the key, and the PEM bundle for serving certificates."""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csrgate.domain.kubeconfig import (
    CertificateError,
    ClusterEndpoint,
    build_certificate_bundle,
    build_requester_kubeconfig,
    read_certificates,
)
from devstack.csrs import make_csr

ISSUED_AT = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.UTC)
SERVER = "https://api.prod-eu.example.com:6443"


@dataclass(frozen=True)
class Authority:
    """A CA that signs CSRs, as the cluster's signer does."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def sign(self, csr_pem: bytes, serial: int = 2, ca: bool = False) -> bytes:
        """The certificate for the CSR's subject and key, valid for a day from ISSUED_AT."""
        csr = x509.load_pem_x509_csr(csr_pem)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.certificate.subject)
            .public_key(csr.public_key())
            .serial_number(serial)
            .not_valid_before(ISSUED_AT)
            .not_valid_after(ISSUED_AT + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def ca() -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(ISSUED_AT)
        .not_valid_after(ISSUED_AT + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Authority(certificate, key)


@pytest.fixture(scope="module")
def cluster(ca: Authority) -> ClusterEndpoint:
    return ClusterEndpoint("prod-eu", SERVER, ca.pem)


def test_the_kubeconfig_embeds_the_certificate_and_points_at_the_key(ca: Authority, cluster: ClusterEndpoint) -> None:
    # GIVEN alice's CSR, signed by the cluster's CA
    certificate_pem = ca.sign(make_csr("alice", orgs=["developers"], key="p256"))
    # WHEN csrgate writes her kubeconfig
    built = build_requester_kubeconfig(cluster, certificate_pem)
    # THEN it names her as the CN does, for that cluster, and expects her key next to it
    assert (built.user, built.context, built.key_path) == ("alice", "alice@prod-eu", "alice.key")
    assert built.filename == "prod-eu-alice.kubeconfig"
    assert built.not_after == ISSUED_AT + datetime.timedelta(days=1)
    assert built.set_credentials_command == (
        "kubectl --kubeconfig prod-eu-alice.kubeconfig config set-credentials alice "
        "--client-key=alice.key --embed-certs=true"
    )
    # AND the document is a kubeconfig as kubectl writes one, keys in kubectl's order
    document = yaml.safe_load(built.text)
    assert document == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "prod-eu",
                "cluster": {"server": SERVER, "certificate-authority-data": base64.b64encode(ca.pem).decode()},
            }
        ],
        "users": [
            {
                "name": "alice",
                "user": {
                    "client-certificate-data": base64.b64encode(certificate_pem).decode(),
                    "client-key": "alice.key",
                },
            }
        ],
        "contexts": [{"name": "alice@prod-eu", "context": {"cluster": "prod-eu", "user": "alice"}}],
        "current-context": "alice@prod-eu",
        "preferences": {},
    }
    assert list(document) == ["apiVersion", "kind", "clusters", "users", "contexts", "current-context", "preferences"]


def test_the_requester_may_say_where_their_key_is(ca: Authority, cluster: ClusterEndpoint) -> None:
    built = build_requester_kubeconfig(cluster, ca.sign(make_csr("alice", key="p256")), "keys/alice 2026.pem")
    assert built.key_path == "keys/alice 2026.pem"
    assert yaml.safe_load(built.text)["users"][0]["user"]["client-key"] == "keys/alice 2026.pem"
    assert built.set_credentials_command.endswith(" --client-key='keys/alice 2026.pem' --embed-certs=true")


@pytest.mark.parametrize(
    ("cn", "file_name", "quoted_user"),
    [
        (
            "system:node:ip-10-0-1-23.ec2.internal",
            "system_node_ip-10-0-1-23.ec2.internal",
            "system:node:ip-10-0-1-23.ec2.internal",
        ),
        ("../../etc/passwd", "etc_passwd", "../../etc/passwd"),
        ("jane o'neil", "jane_o_neil", "'jane o'\"'\"'neil'"),
        ("_.alice._", "alice", "_.alice._"),
        ("Xavier", "Xavier", "Xavier"),
        ("...", "user", "..."),
    ],
)
def test_names_from_the_certificate_become_safe_file_names_and_quoted_arguments(
    ca: Authority, cluster: ClusterEndpoint, cn: str, file_name: str, quoted_user: str
) -> None:
    built = build_requester_kubeconfig(cluster, ca.sign(make_csr(cn, key="p256")))
    assert built.user == cn
    assert (built.filename, built.key_path) == (f"prod-eu-{file_name}.kubeconfig", f"{file_name}.key")
    assert f" config set-credentials {quoted_user} --client-key=" in built.set_credentials_command


def test_an_odd_cluster_name_becomes_a_safe_file_name(ca: Authority) -> None:
    odd = ClusterEndpoint("prod eu/1", SERVER, ca.pem)
    built = build_requester_kubeconfig(odd, ca.sign(make_csr("alice", key="p256")))
    assert built.filename == "prod_eu_1-alice.kubeconfig"
    assert built.set_credentials_command.startswith("kubectl --kubeconfig prod_eu_1-alice.kubeconfig config ")
    assert built.context == "alice@prod eu/1"


def test_a_chain_is_embedded_whole_and_the_user_is_the_first_certificates(
    ca: Authority, cluster: ClusterEndpoint
) -> None:
    # GIVEN the issued certificate followed by an intermediate, with text around them as a signer may send
    issued = ca.sign(make_csr("alice", key="p256"))
    intermediate = ca.sign(make_csr("intermediate-ca", key="p384"), serial=3, ca=True)
    built = build_requester_kubeconfig(cluster, b"issued:\n" + issued + b"\nchain:\n" + intermediate)
    assert built.user == "alice"
    embedded = yaml.safe_load(built.text)["users"][0]["user"]["client-certificate-data"]
    assert base64.b64decode(embedded) == issued + intermediate


@pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")  # an empty CN, as a signer may issue
@pytest.mark.parametrize("cn", [None, ""])
def test_a_certificate_naming_no_user_is_refused(ca: Authority, cluster: ClusterEndpoint, cn: str | None) -> None:
    certificate_pem = ca.sign(make_csr(cn, orgs=["developers"], key="p256"))
    with pytest.raises(CertificateError, match=r"^the certificate names no user \(its subject has no CN\)$"):
        build_requester_kubeconfig(cluster, certificate_pem)


def test_text_without_a_certificate_is_refused(ca: Authority) -> None:
    with pytest.raises(CertificateError, match="^no PEM CERTIFICATE block found$"):
        read_certificates(b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(CertificateError, match="^a CERTIFICATE block cannot be parsed: "):
        read_certificates(
            ca.pem + b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        )


def test_the_serving_bundle_is_the_certificate_then_the_ca(ca: Authority) -> None:
    issued = ca.sign(make_csr("web", key="p256"))
    assert build_certificate_bundle(b"issued:\n" + issued, ca.pem) == (issued + ca.pem).decode()
    assert build_certificate_bundle(issued) == issued.decode()
