"""Peak memory of each function on its main path, and the interactions function's cold path at Lambda's CPU shares.

Memory: each function runs in a fresh interpreter, as in a new Lambda container: it imports functions/<name>/app.py
(settings, cluster configuration and secrets read, clients built), handles its main path's first event, then the
same kind of event again for each further CSR, warm. The events are the real ones, in order: intake takes the
forwarder's events for CSRs a person reviews and for CSRs the policy denies (those go to the channel's digest);
interactions the Approve clicks on the reviews; the worker every job those queued (each decision applied in the dev
cluster, the certificate waited for, the kubeconfig delivered, the review shown on the CSR); the notifier the
digest's flush; the sweeper its sweeps. The log level is production's (INFO), so the audit lines are written.

The peak is read after the import, after the first event and after the last: the kernel's high-water mark of the
interpreter's own memory (VmHWM in /proc/self/status). `getrusage(RUSAGE_SELF).ru_maxrss` does not tell it here:
Linux keeps it across exec, so a child started from this process (which holds moto, the stand-in and the dev
cluster) would report this process's peak.

CPU: Lambda gives a function CPU in proportion to its memory, one vCPU at 1,769 MB. The interactions function's
cold path (import, build, one Approve click) runs in fresh interpreters on one core (`taskset -c N`) held to
MB/1769 of it: by a cgroup (v1) CPU quota over a 20 ms period when /sys/fs/cgroup/cpu is writable (root; the
child's shell joins the group before Python starts), otherwise by stopping and continuing the process
(SIGSTOP/SIGCONT) on the same duty cycle. Its baseline, at each share, is a fresh interpreter that only runs
`import boto3`. Each child also reports its CPU time, which other work on the machine does not change: on a busy
machine the share given may not be what holds a child back. What this cannot simulate: a Graviton core's speed
against this machine's, and Lambda's own start (the sandbox, the runtime, reading the layers) before the import.

AWS is moto's server, Slack the stand-in and the cluster the dev cluster, all on loopback in this process (never
held back: they stand for the network). Bytecode is compiled once by untimed imports, then read.

    .venv/bin/python bench/memory.py [--csrs N] [--samples N] [--sizes MB,MB,...]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.aws import load_template
from devstack.cluster import DevCluster
from devstack.cold_start import ColdLab, cold_lab
from devstack.csrs import make_csr
from devstack.demo import csr_manifest
from devstack.harness import ROOT, Kubectl
from devstack.lambda_events import click, hmac_event, interaction_event, sqs_event

FULL_CORE_MB = 1769  # Lambda: the memory size at which a function has one vCPU
PERIOD_US = 20_000
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")
MARK = "MEMORY "
HEADROOM = 1.5  # the MemorySize memory alone asks for: the peak after every event, half as much again, 64 MB steps
STEP_MB = 64
RUNTIME_MB = 20  # Lambda's runtime client and buffers, beside the interpreter: not measured here
FUNCTIONS = {
    "intake": "IntakeFunction",
    "interactions": "InteractionsFunction",
    "worker": "WorkerFunction",
    "notifier": "NotifierFunction",
    "sweeper": "SweeperFunction",
}
# What runs in the fresh interpreter. argv: the function's app.py; stdin: the events, a JSON list. Its own context:
# devstack.harness's would import the Kubernetes client and YAML into the interpreter.
CHILD = """
import json, resource, sys, time
def peak():
    try:  # this process's own high-water mark: ru_maxrss would keep the one of the process that started it
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def cpu():
    return time.process_time()  # user and system time of this process, finer than os.times()'s ticks
events = json.loads(sys.stdin.read())
started, cpu_started = time.perf_counter(), cpu()
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
result = {"import_seconds": time.perf_counter() - started, "import_cpu_seconds": cpu() - cpu_started}
result.update(import_mib=peak(), seconds=[], cpu_seconds=[], answers=[])
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "csrgate-memory", 512, "memory"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:csrgate-memory"
    def get_remaining_time_in_millis(self):
        return 60000
for number, event in enumerate(events):
    called, cpu_called = time.perf_counter(), cpu()
    result["answers"].append(app.lambda_handler(event, Context()))
    result["seconds"].append(time.perf_counter() - called)
    result["cpu_seconds"].append(cpu() - cpu_called)
    if number == 0:
        result["first_mib"], result["cold_cpu_seconds"] = peak(), cpu() - cpu_started
result["last_mib"] = peak()
print("MARK" + json.dumps(result, default=str))
""".replace("MARK", MARK)
BASELINE = f"""
import json, time
started, cpu_started = time.perf_counter(), time.process_time()
import boto3
seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
print("{MARK}" + json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csrs", type=int, default=10, help="CSRs through each function's main path")
    parser.add_argument("--samples", type=int, default=5, help="interactions cold paths at each CPU share")
    parser.add_argument("--sizes", default="1769,1024,512", help="memory sizes (MB) whose CPU share to simulate")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(Path(scratch) / "cluster").start()
        try:
            with cold_lab(os.environ.__setitem__, cluster.approver_kubeconfig.read_text()) as lab:
                kubectl = Kubectl.with_copy_of(cluster.admin_kubeconfig, Path(scratch) / "home")
                # bytecode compiled once, by untimed imports of every function, then read (a layer shipped with it)
                env = lab.env | {
                    "POWERTOOLS_LOG_LEVEL": "INFO",
                    "PYTHONPYCACHEPREFIX": str(Path(scratch) / "bytecode"),
                    "PYTHONDONTWRITEBYTECODE": "",
                }
                for function in FUNCTIONS:
                    run(function, [], env)
                peaks = main_paths(lab, kubectl, env, args.csrs)
                shares = cold_paths(lab, kubectl, env, sizes, args.samples)
        finally:
            cluster.stop()
    report(peaks, shares, args.csrs)


# --- memory on the main paths ---------------------------------------------------------------------------------


def main_paths(lab: ColdLab, kubectl: Kubectl, env: dict[str, str], csrs: int) -> dict[str, dict[str, Any]]:
    """Each function in its own fresh interpreter, on every event of `csrs` CSRs' main paths."""
    reviews = [_create(kubectl, "memory", make_csr("dana", key="p256")) for _ in range(csrs)]
    denied = make_csr("root", orgs=["kubeadm:cluster-admins"])  # a group the built-in policy never grants
    denials = [_create(kubectl, "memory-denied", denied) for _ in range(csrs)]
    events = [hmac_event(obj) for pair in zip(reviews, denials, strict=True) for obj in pair]
    peaks = {"intake": run("intake", events, env)}
    answers = [json.loads(answer["body"]) for answer in peaks["intake"]["answers"]]
    assert [answer["state"] for answer in answers] == ["awaiting_review", "denied_by_policy"] * csrs, answers
    waiting = [answer["request_id"] for answer in answers if answer["state"] == "awaiting_review"]
    peaks["interactions"] = run("interactions", [_click(lab, request_id) for request_id in waiting], env)
    assert all(answer["statusCode"] == 200 for answer in peaks["interactions"]["answers"])
    jobs = _take(lab, "DecisionQueue", 2 * csrs, wait=0)  # the decisions, and whatever else the path queued
    peaks["worker"] = run("worker", [sqs_event([job], receive_count=1) for job in jobs], env)
    assert all(answer == {"batchItemFailures": []} for answer in peaks["worker"]["answers"])
    flushes = _take(lab, "SlackRetryQueue", 1, wait=20)  # a digest's flush waits a few seconds to gather more
    peaks["notifier"] = run("notifier", [sqs_event([flush], receive_count=1) for flush in flushes], env)
    assert all(answer == {"batchItemFailures": []} for answer in peaks["notifier"]["answers"])
    peaks["sweeper"] = run("sweeper", [{} for _ in range(csrs)], env)
    delivered = [upload for upload in lab.slack.files if upload["channel"] == "DU0DANA"]
    assert len(delivered) == csrs, f"{len(delivered)} of {csrs} kubeconfigs delivered"
    return peaks


def _create(kubectl: Kubectl, stem: str, pem: bytes) -> dict[str, Any]:
    """A CSR made with kubectl as the Kubernetes docs' task makes it (dana's email annotated), as the API returns it."""
    name = f"{stem}-{uuid.uuid4().hex[:8]}"
    kubectl("apply", "-f", "-", stdin=csr_manifest(name, pem, "dana@example.com"))
    return dict(json.loads(kubectl("get", "csr", name, "-o", "json").stdout))


def _click(lab: ColdLab, request_id: str) -> dict[str, Any]:
    [message] = [m for m in lab.slack.messages if request_id in json.dumps(m.blocks)]
    return interaction_event(click("U0ALICE", message, request_id))


def _take(lab: ColdLab, queue: str, at_least: int, wait: int) -> list[dict[str, Any]]:
    """Every message of a queue, taken off it (`wait`: how long SQS may wait for the first to be visible)."""
    sqs, url = lab.session.client("sqs"), lab.resources[queue]
    taken: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=0 if taken else wait
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        taken += messages
    assert len(taken) >= at_least, f"{queue}: {len(taken)} messages, expected at least {at_least}"
    return taken


def run(function: str, events: list[dict[str, Any]], env: dict[str, str]) -> dict[str, Any]:
    """One fresh interpreter: import the function, hand it every event; what CHILD reports."""
    app = str(ROOT / "functions" / function / "app.py")
    reported: dict[str, Any] = _child([sys.executable, "-c", CHILD, app], json.dumps(events), env, f"the {function}")
    return reported


# --- the interactions cold path at CPU shares -----------------------------------------------------------------


def cold_paths(
    lab: ColdLab, kubectl: Kubectl, env: dict[str, str], sizes: list[int], samples: int
) -> dict[int, dict[str, Any]]:
    """The interactions cold path, and the baseline, `samples` times at each memory size's CPU share."""
    objects = [_create(kubectl, "cpu-share", make_csr("dana", key="p256")) for _ in range(samples * len(sizes))]
    answers = run("intake", [hmac_event(obj) for obj in objects], env)["answers"]
    waiting = iter(json.loads(answer["body"])["request_id"] for answer in answers)
    app = str(ROOT / "functions" / "interactions" / "app.py")
    shares: dict[int, dict[str, Any]] = {}
    for size in sizes:
        cold: list[float] = []
        cold_cpu: list[float] = []
        failed = 0
        boto: list[float] = []
        boto_cpu: list[float] = []
        for _ in range(samples):
            with limited(size) as limit:
                baseline = _child([sys.executable, "-c", BASELINE], "", env, "the baseline", limit)
                boto.append(baseline["seconds"])
                boto_cpu.append(baseline["cpu_seconds"])
            with limited(size) as limit:
                event = json.dumps([_click(lab, next(waiting))])
                result = _child([sys.executable, "-c", CHILD, app], event, env, "the interactions function", limit)
                if result["answers"][0]["statusCode"] != 200:
                    # an AWS call outlasted the click path's short timeouts (csrgate.wiring.kit.HURRIED_AWS): Slack
                    # would show the clicker an error. Counted, and left out of the times.
                    failed += 1
                    continue
                cold.append(result["import_seconds"] + result["seconds"][0])
                cold_cpu.append(result["cold_cpu_seconds"])
        shares[size] = {
            "cold": cold or [math.nan],
            "cold_cpu": cold_cpu or [math.nan],
            "boto": boto,
            "boto_cpu": boto_cpu,
            "how": limit.how,
            "failed": failed,
        }
    return shares


@dataclass
class Limit:
    """How a child is held to a CPU share: `prefix` starts it (on one core, in the cgroup), `started` is called in
    this process with its pid (the duty cycle)."""

    prefix: list[str]
    started: Callable[[int], None]
    how: str = "one core"


def _one_core() -> list[str]:
    """`taskset -c N`, N the first core this process may use."""
    return ["taskset", "-c", str(min(os.sched_getaffinity(0)))]


@contextmanager
def limited(size: int) -> Iterator[Limit]:
    """A child on one core at `size` MB's share of it: a cgroup CPU quota where this process may make one (the child's
    shell joins it before Python starts), a SIGSTOP/SIGCONT duty cycle otherwise."""
    share = min(1.0, size / FULL_CORE_MB)
    if share >= 1.0:
        yield Limit(_one_core(), lambda pid: None)
        return
    group = CGROUP_CPU / f"csrgate-bench-{os.getpid()}-{size}"
    try:
        group.mkdir()
        (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (group / "cpu.cfs_quota_us").write_text(str(int(PERIOD_US * share)))
    except OSError:
        with _duty_cycle(share) as started:
            yield Limit(_one_core(), started, f"SIGSTOP/SIGCONT {share:.2f}")
        return
    joined = ["sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "sh", str(group / "cgroup.procs"), *_one_core()]
    try:
        yield Limit(joined, lambda pid: None, f"cgroup quota {share:.2f}")
    finally:
        group.rmdir()


@contextmanager
def _duty_cycle(share: float) -> Iterator[Callable[[int], None]]:
    """Let a child run `share` of every period and stop it for the rest, until it exits."""
    threads: list[threading.Thread] = []

    def started(pid: int) -> None:
        def cycle() -> None:
            running, stopped = PERIOD_US * share / 1e6, PERIOD_US * (1 - share) / 1e6
            try:
                while True:
                    time.sleep(running)
                    os.kill(pid, signal.SIGSTOP)
                    time.sleep(stopped)
                    os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                return  # it exited (a zombie still takes signals: the parent reaps it after communicate)

        thread = threading.Thread(target=cycle, daemon=True)
        thread.start()
        threads.append(thread)

    yield started
    for thread in threads:
        thread.join(timeout=1)


def _child(command: list[str], stdin: str, env: dict[str, str], what: str, limit: Limit | None = None) -> Any:
    """Run a fresh interpreter on one core (at a CPU share, with `limit`); what it printed after MARK, as JSON."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CSRGATE_"))}
    limit = limit or Limit(_one_core(), lambda pid: None)
    process = subprocess.Popen(
        [*limit.prefix, *command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment | env,
    )
    limit.started(process.pid)
    out, err = process.communicate(stdin)
    if process.returncode != 0 or MARK not in out:
        raise RuntimeError(f"{what} failed ({process.returncode}):\n{out[-2000:]}{err[-4000:]}")
    return json.loads(out.rsplit(MARK, 1)[1])


# --- the report -----------------------------------------------------------------------------------------------


def report(peaks: dict[str, dict[str, Any]], shares: dict[int, dict[str, Any]], csrs: int) -> None:
    template = load_template()
    default = template["Globals"]["Function"]["MemorySize"]
    print(f"python {sys.version.split()[0]}, {platform.machine()}, each function in a fresh interpreter\n")
    print(f"Peak memory (VmHWM, MiB) on each function's main path, {csrs} CSRs, and CPU time (ms) on one core:\n")
    header = (
        f"{'function':<13} {'events':>6} {'import':>7} {'1st event':>10} {'all':>7} {'import CPU':>10} "
        f"{'1st CPU':>8} {'warm CPU':>9} {'warm wall':>9} {'MemorySize':>11} {'by memory':>9}"
    )
    print(header)
    for function, measured in peaks.items():
        configured = template["Resources"][FUNCTIONS[function]]["Properties"].get("MemorySize", default)
        warm = measured["seconds"][1:] or measured["seconds"]
        warm_cpu = measured["cpu_seconds"][1:] or measured["cpu_seconds"]
        print(
            f"{function:<13} {len(measured['seconds']):>6} {measured['import_mib']:>7.0f} "
            f"{measured['first_mib']:>10.0f} {measured['last_mib']:>7.0f} "
            f"{measured['import_cpu_seconds'] * 1000:>10.0f} {measured['cpu_seconds'][0] * 1000:>8.0f} "
            f"{statistics.median(warm_cpu) * 1000:>9.0f} {statistics.median(warm) * 1000:>9.0f} {configured:>11} "
            f"{by_memory(measured['last_mib']):>9}"
        )
    print(
        f"\nby memory: (peak + {RUNTIME_MB} MiB for Lambda's runtime) x {HEADROOM}, up to a multiple of {STEP_MB} MB: "
        "what memory alone asks for; the CPU share that comes with it is another matter (docs/cost.md)\n"
    )
    print("Interactions cold path (import, build, one Approve click) at Lambda's CPU share for a memory size,")
    print("one core of this machine standing for one vCPU; medians. CPU ms is the work itself, whatever else runs")
    print("on the machine; wall ms is what a caller waits (on a busy machine the share may not be what binds):\n")
    print(
        f"{'MemorySize':>10} {'vCPU':>5} {'how':<18} {'boto3 wall':>10} {'boto3 CPU':>9} {'cold wall':>9} "
        f"{'cold CPU':>8} {'x boto3':>7} {'CPU/vCPU':>8} {'failed':>6}"
    )
    for size, measured in shares.items():
        share = min(1.0, size / FULL_CORE_MB)
        boto, cold = statistics.median(measured["boto"]), statistics.median(measured["cold"])
        cold_cpu = statistics.median(measured["cold_cpu"])
        print(
            f"{size:>10} {share:>5.2f} {measured['how']:<18} {boto * 1000:>10.0f} "
            f"{statistics.median(measured['boto_cpu']) * 1000:>9.0f} {cold * 1000:>9.0f} {cold_cpu * 1000:>8.0f} "
            f"{cold / boto:>7.2f} {cold_cpu / share * 1000:>8.0f} {measured['failed']:>6}"
        )
    print("\nCPU/vCPU: the cold path's CPU time over the share, what it would take were it all CPU and alone")
    print("failed: clicks answered 503 because an AWS call outlasted the click path's short timeouts (not timed)")


def by_memory(peak_mib: float) -> int:
    """A MemorySize for a function whose peak is `peak_mib`: with Lambda's runtime and the headroom, in 64 MB steps,
    never below Lambda's 128 MB."""
    return max(128, math.ceil((peak_mib + RUNTIME_MB) * HEADROOM / STEP_MB) * STEP_MB)


if __name__ == "__main__":
    main()
