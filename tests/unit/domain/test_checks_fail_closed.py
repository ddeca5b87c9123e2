"""Defence in depth: values the CSR decoder refuses today (a curve Kubernetes cannot read, a network as an IP SAN)
are still denied by the policy checks, should a decoder ever let them through."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from csrgate.domain.csr import DecodedCsr, PublicKeyInfo, Subject, SubjectAltNames
from csrgate.domain.findings import Code, Finding, Severity
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy
from csrgate.domain.request import SigningRequest, read_signing_request
from csrgate.domain.verdict import Verdict, evaluate
from devstack.csrs import manifest


def decoded(public_key: PublicKeyInfo, sans: SubjectAltNames | None = None, cn: str = "alice") -> DecodedCsr:
    """A CSR as the decoder would describe it, signed with SHA-256 and verifying."""
    return DecodedCsr(Subject((cn,)), sans or SubjectAltNames(), public_key, "ecdsa-with-SHA256", signature_valid=True)


def test_a_curve_other_than_p256_p384_and_p521_is_refused_whatever_its_size() -> None:
    # GIVEN a real CSR on brainpoolP256r1, a 256-bit curve Go's crypto/x509 cannot read
    key = ec.generate_private_key(ec.BrainpoolP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    csr_pem = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    request = read_signing_request(manifest(csr_pem.public_bytes(serialization.Encoding.PEM)), "alice.yaml")
    # THEN the decoder refuses it, so it is denied as malformed
    assert evaluate(request, default_policy()).codes == ("malformed-request",)
    # AND were it decoded, the key check would still refuse the curve
    brainpool = decoded(PublicKeyInfo("EC", 256, "brainpoolP256r1"))
    verdict = evaluate(request.with_overrides(csr=brainpool), default_policy())
    assert verdict == Verdict(
        Outcome.DENY,
        (
            Finding(
                Code.WEAK_KEY,
                Severity.ERROR,
                "keys on the curve brainpoolP256r1 are not accepted; use RSA with at least 2048 bits or EC P-256 "
                "(openssl ecparam -name prime256v1 -genkey)",
            ),
        ),
    )


def test_a_network_given_as_an_ip_san_is_in_no_allowed_range() -> None:
    # GIVEN a serving request whose IP SAN reads as the API server's Service network rather than an address
    csr = decoded(
        PublicKeyInfo("EC", 256, "secp256r1"),
        SubjectAltNames(dns=("web.shop.svc",), ip=("10.96.0.1/32",)),
        cn="web",
    )
    request = SigningRequest(csr, signer_name="beta.eks.amazonaws.com/app-serving", usages=("server auth",))
    # THEN it is outside every allowed range (and is not mistaken for anything else)
    assert evaluate(request, default_policy()).findings == (
        Finding(Code.SAN_NOT_ALLOWED, Severity.ERROR, "the IP address 10.96.0.1/32 is outside the allowed ranges"),
    )
