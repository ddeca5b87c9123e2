"""CSRs checked per second, against the raw floor measured in the same run.

The floor is what any CSR check must pay: `cryptography` loading the PEM and verifying the self-signature.
The policy check adds finding the PEM block, decoding every field, and running every rule. Rounds of all
variants are interleaved so a noisy neighbour slows them alike; the median round of each is reported.

    .venv/bin/python bench/check_throughput.py [--csrs N] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable

from cryptography import x509

from csrgate.domain.policy import default_policy
from csrgate.domain.request import read_csr_object, read_signing_request
from csrgate.domain.verdict import evaluate
from devstack.csrs import make_csr, manifest

POLICY = default_policy()


def floor(pem: bytes) -> object:
    """The raw floor: load and verify, nothing else."""
    return x509.load_pem_x509_csr(pem).is_signature_valid


def check_pem(pem: bytes) -> object:
    """`csrgate check` on a PEM: read, decode, verify, judge."""
    request = read_signing_request(pem, "bench").with_overrides(
        signer_name="kubernetes.io/kube-apiserver-client", usages=("client auth",), expiration_seconds=86400
    )
    return evaluate(request, POLICY)


def check_object(obj: dict[str, object]) -> object:
    """The intake path: the CertificateSigningRequest object as the forwarder sends it (already JSON-decoded)."""
    return evaluate(read_csr_object(obj, "bench").signing_request, POLICY)


def check_manifest(document: bytes) -> object:
    """`csrgate check` on a YAML manifest: the same plus strict YAML parsing."""
    return evaluate(read_signing_request(document, "bench"), POLICY)


def api_object(pem: bytes) -> dict[str, object]:
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": "bench", "uid": "0000"},
        "spec": {
            "request": base64.b64encode(pem).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
            "expirationSeconds": 86400,
            "username": "alice@example.com",
            "groups": ["system:authenticated"],
        },
    }


def time_batch(function: Callable[[object], object], inputs: list[object]) -> float:
    start = time.perf_counter()
    for item in inputs:
        function(item)
    return time.perf_counter() - start


def peak_bytes(function: Callable[[object], object], item: object) -> int:
    """Peak Python allocation while checking one CSR (tracemalloc: Python objects, not OpenSSL's own memory)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    function(item)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csrs", type=int, default=200, help="distinct CSRs per key type")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.csrs} CSRs x {args.rounds} rounds\n")
    print(f"{'key':<9} {'variant':<22} {'CSRs/s':>9} {'us/CSR':>8} {'x floor':>8} {'peak KiB':>9}")
    for key in ("rsa2048", "p256"):
        pems = [make_csr(f"user-{i}", orgs=["developers"], key=key) for i in range(args.csrs)]
        variants: dict[str, tuple[Callable[[object], object], list[object]]] = {
            "floor (load+verify)": (floor, list(pems)),  # type: ignore[dict-item]
            "policy check, PEM": (check_pem, list(pems)),  # type: ignore[dict-item]
            "policy check, object": (check_object, [api_object(pem) for pem in pems]),  # type: ignore[dict-item]
            "policy check, YAML": (check_manifest, [manifest(pem) for pem in pems]),  # type: ignore[dict-item]
        }
        for function, inputs in variants.values():  # warm up
            time_batch(function, inputs[:20])
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, (function, inputs) in variants.items():
                samples[name].append(time_batch(function, inputs))
        floor_time = statistics.median(samples["floor (load+verify)"])
        for name, times in samples.items():
            median = statistics.median(times)
            per_csr = median / args.csrs
            function, inputs = variants[name]
            peak = peak_bytes(function, inputs[0]) / 1024
            ratio = median / floor_time
            print(f"{key:<9} {name:<22} {1 / per_csr:>9.0f} {per_csr * 1e6:>8.1f} {ratio:>8.2f} {peak:>9.1f}")
        print()


if __name__ == "__main__":
    main()
