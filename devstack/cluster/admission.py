"""The admission plugins that guard CSRs in kube-apiserver, for the signers this cluster knows.

- CertificateSubjectRestriction: a kube-apiserver-client CSR whose subject names the group system:masters is
  refused at creation (plugin/pkg/admission/certificates/subjectrestriction).
- CertificateApproval: updating `approval` needs the `approve` verb on `signers` for the CSR's signerName.
- CertificateSigning: changing status.certificate or the conditions through `status` needs `sign`.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from devstack.cluster.auth import Authorizer, UserInfo
from devstack.cluster.status import ApiError, admission_forbidden
from devstack.cluster.strategy import APPROVAL, STATUS

KUBE_APISERVER_CLIENT = "kubernetes.io/kube-apiserver-client"
MASTERS = "system:masters"


def admit_create(csr: dict[str, Any]) -> None:
    """CertificateSubjectRestriction."""
    spec = csr.get("spec", {})
    if spec.get("signerName") != KUBE_APISERVER_CLIENT:
        return
    name = csr.get("metadata", {}).get("name", "")
    try:
        request = x509.load_pem_x509_csr(base64.b64decode(spec.get("request", "")))
    except ValueError as exc:
        raise ApiError(500, "InternalError", f"failed to parse CSR: {exc}") from exc
    groups = [attribute.value for attribute in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if MASTERS in groups:
        raise admission_forbidden(name, f"use of {KUBE_APISERVER_CLIENT} signer with {MASTERS} group is not allowed")


def admit_update(
    new: dict[str, Any], old: dict[str, Any], subresource: str, user: UserInfo, authorizer: Authorizer
) -> None:
    """CertificateApproval and CertificateSigning, checked against the new object's signerName."""
    name = new.get("metadata", {}).get("name", "")
    signer = new.get("spec", {}).get("signerName", "")
    if subresource == APPROVAL and not authorizer.allowed_for_signer(user, "approve", signer):
        raise admission_forbidden(name, f'user not permitted to approve requests with signerName "{signer}"')
    if subresource == STATUS:
        changed = new.get("status", {}).get("certificate") != old.get("status", {}).get("certificate") or (
            new.get("status", {}).get("conditions") != old.get("status", {}).get("conditions")
        )
        if changed and not authorizer.allowed_for_signer(user, "sign", signer):
            raise admission_forbidden(name, f'user not permitted to sign requests with signerName "{signer}"')
