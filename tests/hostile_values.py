"""What hypothesis feeds csrgate in the hostile-input tests: a real CSR to corrupt, every signer the default policy
knows (and one it does not), and JSON values of any shape. The engine's tests (tests/unit) and the HTTP APIs'
(tests/integration) both draw them.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import strategies as st

from csrgate.domain.policy import default_policy
from devstack.csrs import make_csr

POLICY = default_policy()
SIGNERS = [*POLICY.signers, "example.com/unmanaged", None]
REAL_PEM = make_csr("alice", orgs=["dev"], dns=["a.example.com"], key="p256")
REAL_DER = x509.load_pem_x509_csr(REAL_PEM).public_bytes(serialization.Encoding.DER)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
