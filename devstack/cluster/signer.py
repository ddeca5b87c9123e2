"""The controllers of kube-controller-manager that act on CSRs: csrsigning for kubernetes.io/kube-apiserver-client
(and, when asked, kubernetes.io/kubelet-serving), and csrcleaner, which garbage-collects old requests.

The signer follows pkg/controller/certificates/signer: it acts only on requests that are Approved and not
Failed, refuses usages other than digital signature, key encipherment and client auth (and requires client auth)
with a `Failed` condition of reason SignerValidationFailure, and issues from the cluster CA for
expirationSeconds clamped to between 10 minutes and the signing duration (1 year), backdated 5 minutes.
The kubelet-serving signer, which a kubeadm cluster runs and the dev cluster runs only when asked, refuses what
ValidateKubeletServingCSR refuses, the same way, and issues server certificates for the request's SANs.
Requests for other signers are left alone, as a real cluster leaves signers it does not run.
"""

from __future__ import annotations

import base64
import datetime
import functools
import ipaddress
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devstack.cluster.auth import UserInfo
from devstack.cluster.pki import DevCa, Usages
from devstack.cluster.registry import CsrRegistry, rfc3339
from devstack.cluster.spec_request import read_spec_request
from devstack.cluster.strategy import STATUS
from devstack.cluster.validation import APPROVED, DENIED, FAILED

LOG = logging.getLogger("devstack.cluster.signer")
KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING = "kubernetes.io/kubelet-serving"
CONTROLLER = UserInfo("system:kube-controller-manager", ("system:masters", "system:authenticated"))
SIGNING_DURATION = datetime.timedelta(days=365)  # --cluster-signing-duration's default
MINIMUM_DURATION = datetime.timedelta(minutes=10)
BACKDATE = datetime.timedelta(minutes=5)
SHORT = datetime.timedelta(hours=8)  # below this the end is not backdated (PermissiveSigningPolicy.Short)
# csrcleaner's deadlines: pending requests go after 24 hours, decided ones 1 hour after the decision.
PENDING_EXPIRATION = datetime.timedelta(hours=24)
DECIDED_EXPIRATION = datetime.timedelta(hours=1)
_CLIENT_KEY_USAGES = {"digital signature": "digital_signature", "key encipherment": "key_encipherment"}
_CERTIFICATE_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    dsa.DSAPublicKey,
)
# pkix.Name's fields in the order ToRDNSequence writes them
_SUBJECT_FIELDS = (
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("street_address", NameOID.STREET_ADDRESS),
    ("postal_code", NameOID.POSTAL_CODE),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("common_name", NameOID.COMMON_NAME),
    ("serial_number", NameOID.SERIAL_NUMBER),
)
_GO_PRINTABLE = re.compile(r"[A-Za-z0-9 '()+,\-./:=?]*")  # encoding/asn1 isPrintable, without * and &


class SignerValidationFailure(ValueError):
    """The request asks for something this signer never issues."""


def client_certificate_usages(usages: list[str]) -> Usages:
    """validAPIServerClientUsages: only digital signature, key encipherment and client auth; client auth required."""
    key_usage = set()
    has_client_auth = False
    for usage in usages:
        if usage in _CLIENT_KEY_USAGES:
            key_usage.add(_CLIENT_KEY_USAGES[usage])
        elif usage == "client auth":
            has_client_auth = True
        else:
            raise SignerValidationFailure(f"invalid usage for client certificate: {usage}")
    if not has_client_auth:
        raise SignerValidationFailure("missing required usages for client certificate: client auth")
    return Usages(frozenset(key_usage), (ExtendedKeyUsageOID.CLIENT_AUTH,))


# ValidateKubeletServingCSR's usages (pkg/apis/certificates/helpers.go): with key encipherment for RSA keys, or not
_KUBELET_SERVING_USAGES = (
    frozenset({"digital signature", "key encipherment", "server auth"}),
    frozenset({"digital signature", "server auth"}),
)


def kubelet_serving_usages(request: dict[str, Any], usages: list[str]) -> Usages:
    """ValidateKubeletServingCSR, in its order and with its errors: O exactly system:nodes, a DNS or IP SAN and no
    email or URI SAN, the kubelet's usages, a CN starting system:node:; the certificate is for server auth."""
    subject = request["subject"]
    if subject["organization"] != ["system:nodes"]:
        raise SignerValidationFailure("subject organization is not system:nodes")
    if not request["dns_names"] and not request["ip_addresses"]:
        raise SignerValidationFailure("DNS or IP subjectAltName is required")
    if request["email_addresses"]:
        raise SignerValidationFailure("Email subjectAltNames are not allowed")
    if request["uris"]:
        raise SignerValidationFailure("URI subjectAltNames are not allowed")
    if frozenset(usages) not in _KUBELET_SERVING_USAGES:
        raise SignerValidationFailure("usages did not match [digital signature key encipherment server auth]")
    if not str(subject["common_name"]).startswith("system:node:"):
        raise SignerValidationFailure("subject common name does not begin with system:node:")
    key_usage = frozenset(_CLIENT_KEY_USAGES[usage] for usage in usages if usage in _CLIENT_KEY_USAGES)
    return Usages(key_usage, (ExtendedKeyUsageOID.SERVER_AUTH,))


def certificate_lifetime(expiration_seconds: int | None) -> datetime.timedelta:
    """The signer's duration(): the requested one within [10 minutes, signing duration]."""
    if expiration_seconds is None:
        return SIGNING_DURATION
    requested = datetime.timedelta(seconds=expiration_seconds)
    return max(MINIMUM_DURATION, min(requested, SIGNING_DURATION))


def issue_certificate(ca: DevCa, csr: dict[str, Any], now: datetime.datetime) -> bytes:
    """Sign the request as the signer its signerName names reads it (the block pem.Decode finds first): a client
    certificate, or a kubelet's serving certificate; SignerValidationFailure or ValueError."""
    spec = csr["spec"]
    serving = spec.get("signerName") == KUBELET_SERVING
    usages = None if serving else client_certificate_usages(list(spec.get("usages") or []))
    reading = read_spec_request(base64.b64decode(spec["request"]))
    request = reading["csr"]
    if request is None:
        raise ValueError(f"unable to parse csr {csr['metadata']['name']!r}: {reading['error']}")
    if usages is None:  # the serving signer validates the parsed request, before its signature (signer.go handle)
        usages = kubelet_serving_usages(request, list(spec.get("usages") or []))
    if not request["signature_valid"]:
        raise ValueError(f"unable to verify certificate request signature: {request['signature_error']}")
    public_key = serialization.load_der_public_key(base64.b64decode(request["raw_subject_public_key_info"]))
    if not isinstance(public_key, _CERTIFICATE_KEY_TYPES):
        raise ValueError(f"unsupported public key type {type(public_key).__name__}")
    lifetime = certificate_lifetime(spec.get("expirationSeconds"))
    not_before = now - BACKDATE
    not_after = now + lifetime if lifetime < SHORT else not_before + lifetime
    certificate = ca.issue(
        certificate_subject(request["subject"]), public_key, usages, not_before, not_after, _sans(request)
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_subject(subject: dict[str, Any]) -> x509.Name:
    """The subject the signer writes: the request's pkix.Name as ToRDNSequence encodes it, so only the named fields
    (C, ST, L, STREET, postalCode, O, OU, CN, serialNumber) are kept, each kind in one RDN, in that order."""
    rdns = []
    for key, oid in _SUBJECT_FIELDS:
        values = subject[key] if isinstance(subject[key], list) else [subject[key]] if subject[key] else []
        if values:
            rdns.append(x509.RelativeDistinguishedName([_go_string_attribute(oid, value) for value in values]))
    return x509.Name(rdns)


def _go_string_attribute(oid: x509.ObjectIdentifier, value: Any) -> x509.NameAttribute[str]:
    """encoding/asn1 marshals a string as PrintableString when it can, else UTF8String; not UTF-8 is an error."""
    if not isinstance(value, str):
        raise ValueError("asn1: string not valid UTF-8")
    kind = _ASN1Type.PrintableString if _GO_PRINTABLE.fullmatch(value) else _ASN1Type.UTF8String
    return x509.NameAttribute(oid, value, kind, _validate=False)


def _sans(request: dict[str, Any]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in request["dns_names"]]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in request["ip_addresses"]]
    names += [x509.RFC822Name(email) for email in request["email_addresses"]]
    names += [x509.UniformResourceIdentifier(uri) for uri in request["uris"]]
    return names


class Controllers:
    """Runs the signer and the cleaner in one thread, woken by every change and on a timer."""

    def __init__(
        self,
        registry: CsrRegistry,
        ca: DevCa,
        clock: Callable[[], datetime.datetime],
        signing_delay: float = 0.0,
        resync_interval: float = 30.0,
        signers: frozenset[str] = frozenset({KUBE_APISERVER_CLIENT}),
    ) -> None:
        self._registry = registry
        self._signers = signers  # the signerNames this controller issues for (kube-controller-manager runs several)
        self._ca = ca
        self._clock = clock
        self._signing_delay = datetime.timedelta(seconds=signing_delay)
        self._resync = resync_interval
        self._thread = threading.Thread(target=self._run, name="dev-cluster-controllers", daemon=True)
        self._stopping = False

    def start(self) -> None:
        """Start the controller thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop it; the store must be closed (or notified) so the thread wakes."""
        self._stopping = True
        with self._registry.store.changed:
            self._registry.store.changed.notify_all()
        self._thread.join(timeout=5)

    def reconcile(self) -> float:
        """One pass over every CSR; returns the seconds until a delayed request is due (or the resync)."""
        items, _ = self._registry.store.snapshot(copies=False)  # read only: a pass per change copies nothing
        wait = self._resync
        now = self._clock()
        for csr in items:
            if self._collect(csr, now):
                continue
            due = self._signing_due(csr, now)
            if due is None:
                continue
            if due > 0:
                wait = min(wait, due)
                continue
            self._sign(csr["metadata"]["name"])
        return wait

    def _run(self) -> None:
        store = self._registry.store
        while not self._stopping and not store.closed:
            before = store.resource_version  # any change from here on wakes the wait below at once
            try:
                wait = self.reconcile()
            except Exception:  # a controller keeps running after a bug, as controllers requeue
                LOG.exception("the CSR controllers failed; retrying")
                wait = 1.0
            with store.changed:
                if not self._stopping:
                    store.wait(before, wait)

    def _signing_due(self, csr: dict[str, Any], now: datetime.datetime) -> float | None:
        spec, status = csr.get("spec", {}), csr.get("status", {})
        kinds = {c.get("type"): c for c in status.get("conditions") or []}
        if spec.get("signerName") not in self._signers or status.get("certificate"):
            return None
        if APPROVED not in kinds or DENIED in kinds or FAILED in kinds:
            return None
        approved_at = _parse(kinds[APPROVED].get("lastUpdateTime"))
        if approved_at is None:
            return 0.0
        return max(0.0, (approved_at + self._signing_delay - now).total_seconds())

    def _sign(self, name: str) -> None:
        def change(csr: dict[str, Any]) -> dict[str, Any] | None:
            if self._signing_due(csr, self._clock()) != 0.0:
                return None  # decided otherwise since the snapshot
            status = csr.setdefault("status", {})
            try:
                status["certificate"] = base64.b64encode(issue_certificate(self._ca, csr, self._clock())).decode()
            except SignerValidationFailure as exc:
                status.setdefault("conditions", []).append(
                    {
                        "type": FAILED,
                        "status": "True",
                        "reason": "SignerValidationFailure",
                        "message": str(exc),
                        "lastUpdateTime": rfc3339(self._clock()),
                    }
                )
            except ValueError as exc:
                # upstream returns the error and requeues without a condition: the request stays approved, unsigned
                LOG.warning("error auto signing csr %s: %s", name, exc)
                return None
            return csr

        self._registry.update_as_controller(name, change, CONTROLLER, STATUS)

    def _collect(self, csr: dict[str, Any], now: datetime.datetime) -> bool:
        """csrcleaner: delete requests past their deadline; True when this one was deleted."""
        status = csr.get("status", {})
        kinds = {c.get("type"): c for c in status.get("conditions") or []}
        created = _parse(csr["metadata"].get("creationTimestamp"))
        expired = False
        decision = kinds.get(APPROVED) or kinds.get(DENIED) or kinds.get(FAILED)
        if decision is not None:
            decided = _parse(decision.get("lastUpdateTime")) or created
            expired = decided is not None and now - decided > DECIDED_EXPIRATION
        elif created is not None:
            expired = now - created > PENDING_EXPIRATION
        if status.get("certificate") and not expired:
            expired = _certificate_expired(status["certificate"], now)
        if not expired:
            return False
        try:
            self._registry.delete(csr["metadata"]["name"], {"preconditions": {"uid": csr["metadata"]["uid"]}})
        except Exception as exc:  # already gone or replaced: nothing to collect
            LOG.debug("not collecting %s: %s", csr["metadata"]["name"], exc)
            return False
        return True


@functools.lru_cache(maxsize=4096)  # every pass reads every request's times again
def _parse(timestamp: str | None) -> datetime.datetime | None:
    if not timestamp:
        return None
    return datetime.datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def _certificate_expired(certificate_b64: str, now: datetime.datetime) -> bool:
    not_after = _not_after(certificate_b64)
    return not_after is not None and not_after < now


@functools.lru_cache(maxsize=4096)  # every pass reads every issued certificate again
def _not_after(certificate_b64: str) -> datetime.datetime | None:
    try:
        certificate = x509.load_pem_x509_certificate(base64.b64decode(certificate_b64))
    except ValueError:
        return None
    return certificate.not_valid_after_utc
