"""Cold starts of the three functions on a CSR's path, each against a bare `import boto3` in the same run.

Each sample is one CSR taken through its path by three fresh interpreters, one per function, as three cold
Lambda containers would take it: intake handles the forwarder's signed event (what a forwarder waits for),
interactions an approver's Approve click on the message intake posted (Slack allows three seconds, cold start
included), the worker the decision that click queued (it approves the CSR in the cluster, waits for the
certificate and delivers the requester's kubeconfig). Each interpreter imports the function's app.py (which reads
its settings, cluster configuration and Slack secret and builds its clients), then handles its one event. The
baseline is a fresh interpreter that only runs `import boto3`, taken in every sample just before the three.

AWS is moto's server, Slack the stand-in and the cluster the dev cluster, all on loopback in this process, so
network time is small and the figures are mostly Python's. After the samples, one more CSR goes through with
`-X importtime` and one with AWS client creation, AWS calls and Slack calls timed, for the breakdown.

Bytecode is set, not left to the machine: with `--bytecode cached` (the default) every interpreter, the baseline's
too, reads modules compiled by an untimed first CSR (a layer shipped with bytecode for its runtime); with
`--bytecode none` every module is compiled from source each time, as Lambda does with layers that ship none (its
/opt is read-only, so nothing compiled there is kept). Either way the caches are in a scratch directory
(PYTHONPYCACHEPREFIX), never in the source tree.

    .venv/bin/python bench/cold_start.py [--samples N] [--top N] [--bytecode cached|none]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devstack.cluster import DevCluster
from devstack.cold_start import ColdLab, cold_lab, run_cold
from devstack.demo import csr_manifest
from devstack.harness import Kubectl
from devstack.lambda_events import click, hmac_event, interaction_event, sqs_event

FUNCTIONS = {
    "intake": "first forwarder event",
    "interactions": "first click (Approve)",
    "worker": "first job (ApplyDecision)",
}
GOAL = 2.0  # issue #14: the interactions cold path at most twice `import boto3`
BASELINE = (
    "import time; t, c = time.perf_counter(), time.process_time(); import boto3; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--top", type=int, default=10, help="-X importtime entries shown per function")
    parser.add_argument("--bytecode", choices=("cached", "none"), default="cached")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(Path(scratch) / "cluster").start()
        try:
            kubeconfig = cluster.approver_kubeconfig.read_text()
            with cold_lab(os.environ.__setitem__, kubeconfig) as lab:
                kubectl = Kubectl.with_copy_of(cluster.admin_kubeconfig, Path(scratch) / "home")
                csr = _danas_csr()
                bytecode = {"PYTHONPYCACHEPREFIX": str(Path(scratch) / "bytecode"), "PYTHONDONTWRITEBYTECODE": "1"}
                # untimed: compiles every module once (kept with --bytecode cached) and warms the file cache
                one_csr(
                    lab, kubectl, csr, bytecode | {"PYTHONDONTWRITEBYTECODE": "" if args.bytecode == "cached" else "1"}
                )
                samples = [one_csr(lab, kubectl, csr, bytecode) for _ in range(args.samples)]
                imports = one_csr(lab, kubectl, csr, bytecode, importtime=True)
                spans = one_csr(lab, kubectl, csr, bytecode, mode="breakdown")
        finally:
            cluster.stop()
    report(samples, args.bytecode)
    breakdown(imports, spans, args.top)


def one_csr(
    lab: ColdLab, kubectl: Kubectl, csr: bytes, bytecode: dict[str, str], mode: str = "timed", importtime: bool = False
) -> dict[str, Any]:
    """The baseline, then one new CSR through intake, interactions and the worker, each in a fresh interpreter."""
    env = lab.env | bytecode
    wall, cpu = map(float, _last_line([sys.executable, "-c", BASELINE], os.environ | env).split())
    name = f"cold-start-{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, csr, "dana@example.com"))
    obj = json.loads(kubectl("get", "csr", name, "-o", "json").stdout)
    intake = run_cold("intake", hmac_event(obj), env, mode, importtime)
    answer = json.loads(intake["response"]["body"])
    assert answer["state"] == "awaiting_review", answer
    request_id = answer["request_id"]
    [message] = [m for m in lab.slack.messages if request_id in json.dumps(m.blocks)]
    event = interaction_event(click("U0ALICE", message, request_id))
    interactions = run_cold("interactions", event, env, mode, importtime)
    assert interactions["response"]["statusCode"] == 200, interactions["response"]
    worker = run_cold("worker", sqs_event([_decision(lab, request_id)], receive_count=1), env, mode, importtime)
    assert worker["response"] == {"batchItemFailures": []}, worker["response"]
    baseline = {"import": wall, "first_call": 0.0, "import_cpu": cpu, "first_call_cpu": 0.0}
    return {"baseline": baseline, "intake": intake, "interactions": interactions, "worker": worker}


def _decision(lab: ColdLab, request_id: str) -> dict[str, Any]:
    """The decision the click queued for the worker, taken off the queue with anything else waiting there (intake's
    jobs for the worker are not part of the sample)."""
    sqs = lab.session.client("sqs")
    queue = lab.resources["DecisionQueue"]
    wanted = {"kind": "apply_decision", "request_id": request_id}
    for _ in range(10):  # SQS may answer a receive with some of the messages only
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1, AttributeNames=["All"])
        found: list[dict[str, Any]] = answer.get("Messages", [])
        for message in found:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        decisions = [message for message in found if json.loads(message["Body"]) == wanted]
        if decisions:
            return decisions[0]
    raise RuntimeError(f"the click queued no decision for request {request_id}")


def _danas_csr() -> bytes:
    """A CSR for dana's own user, as the Kubernetes docs' task makes one."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dana")])
    request = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return request.public_bytes(serialization.Encoding.PEM)


def _last_line(command: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def report(samples: list[dict[str, Any]], bytecode: str) -> None:
    """Medians of wall time (what a caller waits for) and of the interpreter's own CPU time (neither the stand-ins'
    work nor waiting for a core of a shared machine), each against the baseline's."""
    print(f"python {sys.version.split()[0]}, bytecode {bytecode}, {len(samples)} CSRs, each function in a fresh")
    print("interpreter; medians of wall time and of the interpreter's own CPU time\n")
    print(f"{'what':<44} {'wall ms':>8} {'x boto3':>8} {'CPU ms':>8} {'x boto3':>8}")
    boto = _medians(samples, "baseline", ("import",))
    rows = [("import boto3 (baseline)", boto)]
    for function, call in FUNCTIONS.items():
        rows += [
            (f"{function}: import and build", _medians(samples, function, ("import",))),
            (f"{function}: {call}", _medians(samples, function, ("first_call",))),
            (f"{function}: cold path in all", _medians(samples, function, ("import", "first_call"))),
        ]
    for what, (wall, cpu) in rows:
        print(f"{what:<44} {wall * 1000:>8.0f} {wall / boto[0]:>8.2f} {cpu * 1000:>8.0f} {cpu / boto[1]:>8.2f}")
    wall, cpu = _medians(samples, "interactions", ("import", "first_call"))
    ratio = wall / boto[0]
    verdict = "met" if ratio <= GOAL else "not met"
    print(f"\ngoal: the interactions cold path at most {GOAL:.1f}x import boto3: {verdict} ({ratio:.2f}x wall,")
    print(f"{cpu / boto[1]:.2f}x CPU)")


def _medians(samples: list[dict[str, Any]], function: str, parts: tuple[str, ...]) -> tuple[float, float]:
    """The medians of the parts' sum, in wall and in CPU seconds."""
    wall = statistics.median(sum(s[function][part] for part in parts) for s in samples)
    cpu = statistics.median(sum(s[function][f"{part}_cpu"] for part in parts) for s in samples)
    return wall, cpu


def breakdown(imports: dict[str, Any], spans: dict[str, Any], top: int) -> None:
    """Where each function's time goes: -X importtime, and the instrumented run's clients and calls."""
    for function in FUNCTIONS:
        print(f"\n{function}")
        timed = spans[function]["spans"]
        clients = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in timed["clients"])
        print(f"  AWS clients created: {_total(timed['clients'])} ({clients})")
        for kind, label in (("aws", "AWS calls"), ("slack", "Slack calls")):
            calls = timed[kind]
            listed = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in calls)
            print(f"  {label}: {_total(calls)} ({listed})" if calls else f"  {label}: none")
        entries = _import_entries(imports[function]["importtime"])
        packages: dict[str, int] = defaultdict(int)
        for own, _, _, module in entries:
            top_level = module.split(".")[0]
            packages["(stdlib)" if top_level in sys.stdlib_module_names else top_level] += own
        total = sum(packages.values())
        shares = sorted(packages.items(), key=lambda item: -item[1])[:top]
        print(f"  -X importtime, {total / 1000:.0f} ms in all; own time by top-level package (ms):")
        print("    " + ", ".join(f"{package} {own / 1000:.0f}" for package, own in shares))
        print("  -X importtime, largest entries (cumulative ms, own ms):")
        for own, cumulative, depth, module in sorted(entries, key=lambda entry: -entry[1])[:top]:
            print(f"    {cumulative / 1000:>6.0f} {own / 1000:>6.0f}  {'  ' * depth}{module}")
    print("\n(-X importtime adds its own overhead; the instrumented run imports botocore and slack_sdk first)")


def _total(spans: list[list[Any]]) -> str:
    return f"{len(spans)}, {sum(seconds for _, seconds in spans) * 1000:.0f} ms"


def _import_entries(lines: list[str]) -> list[tuple[int, int, int, str]]:
    """(own µs, cumulative µs, depth, module) of each -X importtime line."""
    entries = []
    for line in lines:
        found = _IMPORT_LINE.match(line)
        if found:
            entries.append((int(found[1]), int(found[2]), len(found[3]) // 2, found[4]))
    return entries


if __name__ == "__main__":
    main()
