"""Comparing csrgate's reading of spec.request with Go's (devstack/gocsr), input by input: what each reads, in the
same terms, and why a difference is unsafe. The `parity` fixture (conftest.py) holds one `Parity` for the session.
"""

from __future__ import annotations

import base64
import os
from typing import Any

from cryptography import x509

from csrgate.domain.csr import DecodedCsr
from csrgate.domain.errors import InputError
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import default_policy
from csrgate.domain.request import SigningRequest, read_csr_object, read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.cluster import pem as go_pem
from devstack.csrs import SEQUENCE, der, extension
from devstack.gocsr import INSTALL_HINT, GoCsrReader

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
GO_MISSING = f"Go is not installed, so csrgate cannot be compared with it: {INSTALL_HINT}"
CN, ORG, OU, C, SERIAL = "2.5.4.3", "2.5.4.10", "2.5.4.11", "2.5.4.6", "2.5.4.5"
DC, UID, EMAIL = "0.9.2342.19200300.100.1.25", "0.9.2342.19200300.100.1.1", "1.2.840.113549.1.9.1"
NODE = "system:node:ip-10-0-1-23.ec2.internal"
# The RFC 4514 keywords csrgate names subject attributes by; any other attribute goes by its dotted OID.
RFC4514_NAMES = {
    CN: "CN",
    ORG: "O",
    OU: "OU",
    C: "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    DC: "DC",
    UID: "UID",
}
GO_KEY_TYPES = {"RSA": "RSA", "ECDSA": "EC", "Ed25519": "Ed25519", "DSA": "DSA"}
GO_CURVES = {"P-224": "secp224r1", "P-256": "secp256r1", "P-384": "secp384r1", "P-521": "secp521r1"}
# How a cluster's CSR objects ask: a person's client certificate, and a kubelet's serving certificate (the one
# signer the default policy may approve without a person).
SPECS = {
    "client": {
        "signerName": "kubernetes.io/kube-apiserver-client",
        "usages": ["client auth"],
        "expirationSeconds": 86400,
    },
    "kubelet": {
        "signerName": "kubernetes.io/kubelet-serving",
        "usages": ["digital signature", "server auth"],
        "username": NODE,
        "groups": ["system:nodes", "system:authenticated"],
    },
}


def go_reading(csr: dict[str, Any]) -> dict[str, Any]:
    """What Go read, in csrgate's terms."""
    names = [(oid, value if isinstance(value, str) else None) for oid, value in csr["subject"]["names"]]
    algorithm = GO_KEY_TYPES.get(csr["public_key"]["algorithm"])
    return {
        "CN": [value for oid, value in names if oid == CN],
        "O": [value for oid, value in names if oid == ORG],
        "other subject": [(RFC4514_NAMES.get(oid, oid), value) for oid, value in names if oid not in (CN, ORG)],
        "DNS": csr["dns_names"],
        "IP": csr["ip_addresses"],
        "email": csr["email_addresses"],
        "URI": csr["uris"],
        "extensions": [_extension_name(oid) for oid in csr["extensions"]],
        "key": (
            algorithm or "unknown to Go",
            csr["public_key"]["bits"] if algorithm else None,
            GO_CURVES.get(csr["public_key"]["curve"] or "", csr["public_key"]["curve"]),
        ),
        "signature valid": csr["signature_valid"],
    }


def csrgate_reading(csr: DecodedCsr) -> dict[str, Any]:
    """What csrgate read."""
    key = csr.public_key
    known = key.type in GO_KEY_TYPES.values()
    return {
        "CN": list(csr.subject.common_names),
        "O": list(csr.subject.organizations),
        "other subject": [tuple(pair) for pair in csr.subject.other],
        "DNS": list(csr.sans.dns),
        "IP": list(csr.sans.ip),
        "email": list(csr.sans.email),
        "URI": list(csr.sans.uri),
        "extensions": list(csr.extensions),
        "key": (key.type if known else "unknown to Go", key.bits if known else None, key.curve),
        "signature valid": csr.signature_valid,
    }


def _extension_name(dotted: str) -> str:
    name = getattr(x509.ObjectIdentifier(dotted), "_name", None)
    return name if isinstance(name, str) and name != "Unknown OID" else dotted


class Parity:
    """Compares csrgate with Go input by input, and counts what it saw."""

    def __init__(self, reader: GoCsrReader, go_version: str) -> None:
        self.reader = reader
        self.go_version = go_version
        self.compared = self.refused = self.alike = 0
        self.disagreements: list[str] = []

    def problems(self, data: bytes) -> list[str]:
        """Why csrgate's handling of these spec.request bytes is unsafe next to Go's reading (empty when it is not)."""
        go = self.reader.read(data)
        self.compared += 1
        problems = _pem_port_problems(data, go)
        readings = {"spec.request": _read_base64(data)}
        readings.update({f"{name} object": _read_object(data, spec) for name, spec in SPECS.items()})
        refusals = 0
        for entry, request in readings.items():
            if request is None or request.csr is None:
                refusals += 1
                continue
            if go["csr"] is None:
                differences = [f"Go refuses it ({go['error']}) but csrgate reads it"]
            else:
                theirs, ours = go_reading(go["csr"]), csrgate_reading(request.csr)
                differences = [
                    f"{key}: Go {theirs[key]!r}, csrgate {ours[key]!r}" for key in theirs if theirs[key] != ours[key]
                ]
            if not differences:
                continue
            problems.append(f"{entry}: " + "; ".join(differences))
            if entry != "spec.request":
                outcome = evaluate(request, default_policy()).outcome
                if outcome in (Outcome.APPROVE, Outcome.REVIEW):
                    problems.append(f"{entry}: read differently from Go, yet the verdict is {outcome.value}")
        if problems:
            self.disagreements.append(problems[0])
        elif refusals == len(readings):
            self.refused += 1
        else:
            self.alike += 1
        return problems

    def __repr__(self) -> str:
        return f"<Parity {self.summary()}>"

    def summary(self) -> str:
        """One line for the end of the run."""
        return (
            f"go parity: {self.compared} inputs compared with Go's reading ({self.go_version}): {self.alike} read "
            f"alike, {self.refused} refused by csrgate, {len(self.disagreements)} read differently"
        )


def _read_base64(data: bytes) -> SigningRequest | None:
    try:
        return read_signing_request(base64.b64encode(data), "spec.request")
    except InputError:
        return None  # refused before decoding: the intake answers 400 and the CSR is never decided


def _object(data: bytes, spec: dict[str, Any]) -> dict[str, Any]:
    """A CertificateSigningRequest as the forwarder sends it to the intake, with these spec.request bytes."""
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "parity"},
        "spec": {"request": base64.b64encode(data).decode("ascii"), **spec},
    }


def _read_object(data: bytes, spec: dict[str, Any]) -> SigningRequest | None:
    try:
        return read_csr_object(_object(data, spec), "object").signing_request
    except InputError:
        return None


def _pem_port_problems(data: bytes, go: dict[str, Any]) -> list[str]:
    """The dev cluster's port of pem.Decode (its reader when Go is missing) takes the block Go takes."""
    block, _ = go_pem.decode(data)
    ported = None if block is None else (block.type_text, base64.b64encode(block.data).decode(), len(block.headers))
    theirs = go["block"]
    if theirs is not None:
        kind = theirs["type"]
        if not isinstance(kind, str):  # not UTF-8: gocsr writes the bytes in hex
            kind = bytes.fromhex(kind["invalid_utf8"]).decode(errors="replace")
        theirs = (kind, theirs["bytes"], len(theirs["headers"]))
    return [] if ported == theirs else [f"devstack's pem.Decode port takes {ported!r}, Go takes {theirs!r}"]


class ParitySummary:
    """Prints the count at the end of the run, whatever pytest's reporting options."""

    def __init__(self, parity: Parity) -> None:
        self.parity = parity

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(self.parity.summary())


def basic_constraints() -> bytes:
    """A basicConstraints extension saying CA:TRUE."""
    return extension("2.5.29.19", der(SEQUENCE, b"\x01\x01\xff"), critical=True)
