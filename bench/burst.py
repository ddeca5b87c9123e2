"""A node group's scale-up through the dev stack: hundreds of kubelet-serving CSRs within a minute, and a few that
need a person, approved by csrgate; then the same burst approved by a plain watch-and-approve loop.

The burst: NODES node identities (system:node:<name> in system:nodes, client certificates from the dev cluster's CA,
each with a Node object listing the addresses its CSRs name: devstack.cluster.kubelets) join evenly over WINDOW
seconds, each creating PER_NODE kubelet-serving CSRs with the official `kubernetes` client authenticated as itself
(THREADS threads, one connection per node); PEOPLE CSRs for kube-apiserver-client users, created by dana (the admin
kubeconfig, her email annotated, as the docs do), are spread over the same window. csrgate's policy approves the
node CSRs on its own; bob and alice click Approve on each person's approval request in the Slack stand-in once csrgate
has saved it (looking once a second).

csrgate: the stack `csrgate dev up` runs, in a process of its own where each function's handler is measured, with
four differences that keep the stand-ins from being what is measured (bench/burst_stack.py). Each function has one
container there, as the dev stack runs them: calls to one function wait for each other, as they would not on Lambda.

Then a traced pass, smaller (TRACED_NODES nodes, their share of people): the same through csrgate with tracemalloc
on, for each call's peak (tracemalloc triples the stack's time, so the timed burst runs without it); and each
function imported and built alone in a fresh interpreter, for its resident set before any call.

Baseline, same run, same dev cluster, csrgate's forwarder stopped and csrgate's CSRs deleted: fresh CSRs of the same
shape, the kubelet-serving ones approved by a plain loop in a process of its own (the official client: list, watch,
approve each pending kubelet-serving CSR through the approval subresource, as kubelet-csr-approver does, without its
checks), the people's by dana's admin identity through the approval subresource once they exist (`kubectl
certificate approve` by someone who knew at once).

Reported: from the first create to the last CSR Approved in the cluster (as a watch sees it), p50/p95 of
create-to-Approved, lost (never Approved, dead-lettered) and duplicated (two top-level messages naming one CSR, two
Approved conditions); Slack Web API calls by method and by where they went, messages posted (top-level and in
threads), and the automatic decisions' top-level messages per wall-clock minute; per function: calls, time in the
handler, the tracemalloc peak in a call (process-wide: an upper bound) and the cold-start resident set, beside the
stack process's peak RSS.

    .venv/bin/python bench/burst.py [--nodes 250] [--per-node 2] [--people 20] [--window 45] [--threads 8]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
import yaml
from burst_stack import StackProcess
from kubernetes import client, config, watch

from devstack.bench import percentile
from devstack.client import DevStackClient, StackError, wait_for
from devstack.cluster.kubelets import Kubelet, node_group
from devstack.csrs import make_csr
from devstack.demo import csr_manifest

KUBELET_SERVING = "kubernetes.io/kubelet-serving"
APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
# every CSR name the burst makes: <phase>-<node>-<n> and <phase>-person-<n>, of one width within a phase
NAME = re.compile(r"\b(?:csrgate|traced|baseline)-(?:node-\d+-\d+|person-\d+)\b")
WINDOW = re.compile(r"between \d\d:\d\d and \d\d:\d\d UTC")  # a digest's window, as its headline names it


# --- the baseline's process ----------------------------------------------------------------------------------------


def approve_kubelet_serving(kubeconfig: str, ready: Any, stop: Any) -> None:
    """The baseline: list, then watch, and approve every pending kubelet-serving CSR through the approval
    subresource, one at a time, as kubelet-csr-approver's reconciler does (without its checks)."""
    api = client.CertificatesV1Api(config.new_client_from_config(kubeconfig))
    listed = api.list_certificate_signing_request()
    for csr in listed.items:
        _approve_if_pending(api, csr)
    version = listed.metadata.resource_version
    ready.set()
    while not stop.is_set():
        watcher = watch.Watch()
        try:
            for event in watcher.stream(
                api.list_certificate_signing_request, resource_version=version, timeout_seconds=2
            ):
                csr = event["object"]
                version = csr.metadata.resource_version
                if event["type"] in ("ADDED", "MODIFIED"):
                    _approve_if_pending(api, csr)
        except client.ApiException as refused:
            if refused.status != 410:
                raise
            listed = api.list_certificate_signing_request()  # too old: list again, as an informer does
            for csr in listed.items:
                _approve_if_pending(api, csr)
            version = listed.metadata.resource_version


def _approve_if_pending(api: client.CertificatesV1Api, csr: Any) -> None:
    if csr.spec.signer_name != KUBELET_SERVING or _decided(csr):
        return
    for _ in range(3):  # a conflict: read it again, as a reconciler requeues
        csr.status.conditions = [
            *(csr.status.conditions or []),
            client.V1CertificateSigningRequestCondition(
                type=APPROVED, status="True", reason="AutoApproved", message="approved by the plain loop"
            ),
        ]
        try:
            api.replace_certificate_signing_request_approval(csr.metadata.name, csr)
            return
        except client.ApiException as refused:
            if refused.status != 409:
                raise
            csr = api.read_certificate_signing_request(csr.metadata.name)
            if _decided(csr):
                return


def _decided(csr: Any) -> bool:
    return any(c.type in (APPROVED, DENIED) for c in (csr.status.conditions or []))


class BaselineApprover:
    """The plain loop in a process of its own, as a controller runs in a pod of its own."""

    def __init__(self, kubeconfig: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._ready, self._stop = context.Event(), context.Event()
        self._process = context.Process(
            target=approve_kubelet_serving, args=(kubeconfig, self._ready, self._stop), daemon=True
        )

    def start(self) -> BaselineApprover:
        """Start it and wait until its list is done and its watch begins."""
        self._process.start()
        if not self._ready.wait(60):
            raise RuntimeError("the plain loop did not start within 60 s")
        return self

    def stop(self) -> None:
        """End its watch and the process."""
        self._stop.set()
        self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


# --- the burst -----------------------------------------------------------------------------------------------------


@dataclass
class Observed:
    """What a watch on every CSR saw: when each was first Approved (or Denied, Failed), and how many such
    conditions its latest version carries."""

    approved_at: dict[str, float] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    approvals: dict[str, int] = field(default_factory=dict)


class Observer:
    """A watch on every CSR, as an admin's kubectl would follow them; time of receipt is what counts."""

    def __init__(self, kubeconfig: str) -> None:
        self._api = client.CertificatesV1Api(config.new_client_from_config(kubeconfig))
        self.seen = Observed()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observer", daemon=True)

    def start(self) -> Observer:
        """Start watching from now."""
        self._version = self._api.list_certificate_signing_request().metadata.resource_version
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching."""
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                for event in watch.Watch(return_type="object").stream(
                    self._api.list_certificate_signing_request, resource_version=self._version, timeout_seconds=2
                ):
                    self._saw(event["raw_object"], time.monotonic())
            except client.ApiException as refused:
                if refused.status != 410:
                    raise
                listed = self._api.list_certificate_signing_request(_preload_content=False)
                document = json.loads(listed.data)
                for item in document["items"]:
                    self._saw(item, time.monotonic())
                self._version = document["metadata"]["resourceVersion"]
            except (urllib3.exceptions.HTTPError, OSError):
                if not self._stopping.is_set():
                    raise

    def _saw(self, obj: dict[str, Any], at: float) -> None:
        self._version = obj["metadata"]["resourceVersion"]
        name = obj["metadata"]["name"]
        kinds = [c.get("type") for c in (obj.get("status") or {}).get("conditions") or []]
        if APPROVED in kinds:
            self.seen.approved_at.setdefault(name, at)
        if DENIED in kinds:
            self.seen.denied.add(name)
        if FAILED in kinds:
            self.seen.failed.add(name)
        self.seen.approvals[name] = kinds.count(APPROVED)


@dataclass(frozen=True)
class Creation:
    """One CSR to create: when (seconds into the burst), by whom, what."""

    due: float
    name: str
    api: client.CertificatesV1Api
    body: dict[str, Any]
    person: bool


@dataclass(frozen=True)
class Burst:
    """Who creates a burst's CSRs: the nodes, each as itself, and dana."""

    as_nodes: list[tuple[Kubelet, client.CertificatesV1Api]]
    dana: client.CertificatesV1Api
    dana_email: str
    per_node: int

    def plan(self, phase: str, nodes: int, people: int, window: float) -> list[Creation]:
        """The first `nodes` nodes join evenly over `window` seconds, each creating its CSRs on joining; `people`
        people's CSRs are spread over the window too."""
        plan = []
        for index, (kubelet, api) in enumerate(self.as_nodes[:nodes]):
            for number in range(1, self.per_node + 1):
                name = f"{phase}-{kubelet.name}-{number}"
                plan.append(Creation(window * index / nodes, name, api, kubelet.serving_csr(name), False))
        width = len(str(people))
        for index in range(people):
            name = f"{phase}-person-{index + 1:0{width}d}"
            body = yaml.safe_load(csr_manifest(name, make_csr(name), self.dana_email))
            plan.append(Creation(window * (index + 0.5) / people, name, self.dana, body, True))
        return sorted(plan, key=lambda creation: creation.due)


def create_all(plan: list[Creation], threads: int) -> dict[str, float]:
    """Create each CSR at its due time on a pool of threads; when each create request started (monotonic)."""
    started: dict[str, float] = {}
    begin = time.monotonic()

    def create(creation: Creation) -> None:
        started[creation.name] = time.monotonic()
        creation.api.create_certificate_signing_request(creation.body)

    with ThreadPoolExecutor(threads, thread_name_prefix="kubelet") as pool:
        futures = []
        for creation in plan:
            delay = begin + creation.due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(create, creation))
        for future in futures:
            future.result()
    return started


@dataclass
class PhaseResult:
    """One phase's figures."""

    name: str
    created: dict[str, float]  # when each create request started (monotonic)
    observed: Observed
    people: list[str]
    stack: dict[str, Any]  # what the stack's process measured meanwhile


def run_phase(
    name: str,
    stack: StackProcess,
    plan: list[Creation],
    threads: int,
    person: Callable[[list[str], Callable[[], bool]], None],
    timeout: float,
    settled: Callable[[list[str]], bool] | None = None,
) -> PhaseResult:
    """Create the burst, let `person` approve the people's CSRs, wait for every CSR to be decided (or the timeout)
    and then for `settled` (given the people's CSRs)."""
    admin = stack.client.stack["kubeconfig"]
    marks = stack.ask("begin")
    observer = Observer(admin).start()
    names = [creation.name for creation in plan]
    people = [creation.name for creation in plan if creation.person]
    stopping = threading.Event()
    helper = threading.Thread(target=person, args=(people, stopping.is_set), name=f"{name}-person", daemon=True)
    helper.start()
    print(f"{name}: creating {len(plan)} CSRs", file=sys.stderr, flush=True)
    created = create_all(plan, threads)
    deadline = time.monotonic() + timeout
    seen = observer.seen
    while time.monotonic() < deadline and not set(names) <= (set(seen.approved_at) | seen.denied | seen.failed):
        time.sleep(0.2)
    if settled is not None:
        while time.monotonic() < deadline and not settled(people):
            time.sleep(0.5)
    stopping.set()
    helper.join(30)
    time.sleep(1)  # a second approval, had there been one, would show within it
    observer.stop()
    figures = stack.ask("end", marks)
    return PhaseResult(name, created, observer.seen, people, figures)


def clicking_approver(stack: DevStackClient) -> Callable[[list[str], Callable[[], bool]], None]:
    """bob then alice click Approve on each person's approval request once csrgate has saved it (the CSR is for a
    user that is not dana's own, so two approvers must agree)."""
    bob, alice = stack.user("bob"), stack.user("alice")

    def act(people: list[str], stopping: Callable[[], bool]) -> None:
        for name in people:
            while not stopping():
                try:
                    message = stack.review_message(name, timeout=10, interval=1.0)
                except StackError:  # not posted yet: look again, unless the phase is over
                    continue
                stack.click(message, "csrgate_approve", bob)
                stack.click(message, "csrgate_approve", alice)
                break

    return act


def kubectl_approver(api: client.CertificatesV1Api) -> Callable[[list[str], Callable[[], bool]], None]:
    """Someone with the admin's kubeconfig approves each person's CSR once it exists."""

    def act(people: list[str], stopping: Callable[[], bool]) -> None:
        for name in people:
            while not stopping():
                try:
                    csr = api.read_certificate_signing_request(name)
                except client.ApiException as refused:
                    if refused.status != 404:
                        raise
                    time.sleep(0.5)
                    continue
                csr.status.conditions = [
                    *(csr.status.conditions or []),
                    client.V1CertificateSigningRequestCondition(
                        type=APPROVED, status="True", reason="KubectlApprove", message="approved with kubectl"
                    ),
                ]
                api.replace_certificate_signing_request_approval(name, csr)
                break

    return act


# --- the report ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timings:
    """Time to the last approval and create-to-Approved percentiles, for a set of CSRs."""

    count: int
    approved: int
    to_last_s: float
    p50_s: float
    p95_s: float


def timings(result: PhaseResult, names: Iterable[str]) -> Timings:
    """Over `names`: from the phase's first create to the last Approved, and each CSR's create-to-Approved."""
    names = list(names)
    first = min(result.created.values())
    approved = [name for name in names if name in result.observed.approved_at]
    waits = [result.observed.approved_at[name] - result.created[name] for name in approved]
    last = max((result.observed.approved_at[name] for name in approved), default=first)
    return Timings(
        len(names),
        len(approved),
        last - first,
        percentile(waits, 0.5) if waits else float("nan"),
        percentile(waits, 0.95) if waits else float("nan"),
    )


@dataclass
class SlackFigures:
    """The Slack Web API calls and messages of one phase."""

    calls: Counter[str]
    posts: Counter[tuple[str, str]]  # (where, top-level or thread) -> chat.postMessage calls
    updates: Counter[str]  # where -> chat.update calls
    messages: Counter[tuple[str, str]]  # (where, top-level or thread) -> messages the stand-in accepted
    requests_per_csr: Counter[str]  # CSR -> top-level messages naming it in the review channel
    automatic_posts: int  # top-level posts in the review channel naming none of the people's CSRs
    automatic_updates: int
    automatic_per_minute: Counter[int]  # wall-clock minute -> automatic top-level post calls (refused ones too)
    # the window a digest's headline names -> its top-level messages the stand-in accepted (a call Slack answered 429
    # posted nothing, and its retry is the same message)
    automatic_per_window: Counter[str]


def slack_figures(figures: dict[str, Any], channel: str, people: set[str]) -> SlackFigures:
    """Count the phase's calls and messages by method and by where they went."""

    def where(to: str) -> str:
        return "review channel" if to == channel else "DMs" if to.startswith("D") else to or "none"

    calls: Counter[str] = Counter()
    posts: Counter[tuple[str, str]] = Counter()
    updates: Counter[str] = Counter()
    automatic_per_minute: Counter[int] = Counter()
    automatic_per_window: Counter[str] = Counter()
    automatic_posts = automatic_updates = 0
    for call in figures["calls"]:
        calls[call["method"]] += 1
        level = "thread" if call["thread_ts"] else "top-level"
        automatic = call["channel"] == channel and not (set(NAME.findall(call["text"])) & people)
        if call["method"] == "chat.postMessage":
            posts[(where(call["channel"]), level)] += 1
            if automatic and level == "top-level":
                automatic_posts += 1
                automatic_per_minute[int(call["at"] // 60)] += 1
        elif call["method"] == "chat.update":
            updates[where(call["channel"])] += 1
            automatic_updates += automatic
    messages: Counter[tuple[str, str]] = Counter()
    requests_per_csr: Counter[str] = Counter()
    for message in figures["messages"]:
        level = "thread" if message["thread_ts"] else "top-level"
        messages[(where(message["channel"]), level)] += 1
        if message["channel"] == channel and level == "top-level":
            named = set(NAME.findall(message["text"]))
            requests_per_csr.update(named)
            window = WINDOW.search(message["text"])
            if not named & people:
                automatic_per_window[window.group(0) if window else "no window named"] += 1
    return SlackFigures(
        calls,
        posts,
        updates,
        messages,
        requests_per_csr,
        automatic_posts,
        automatic_updates,
        automatic_per_minute,
        automatic_per_window,
    )


@dataclass
class Run:
    """Everything measured in one run."""

    csrgate: PhaseResult
    traced: PhaseResult | None
    cold_starts: dict[str, dict[str, float]]
    baseline: PhaseResult


def print_report(args: argparse.Namespace, run: Run, channel: str) -> None:
    """The Markdown report."""
    csrgate, baseline = run.csrgate, run.baseline
    print(
        f"{args.nodes * args.per_node} kubelet-serving CSRs from {args.nodes} nodes and {args.people} people's CSRs, "
        f"created over {args.window:.0f} s on {args.threads} threads; {platform.machine()} ({os.cpu_count()} CPUs), "
        f"Python {platform.python_version()}\n"
    )
    print("| approver | CSRs | created over s | first create to last Approved s | p50 s | p95 s | × baseline |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, select in (
        ("all", lambda name: True),
        ("kubelet-serving", lambda name: "-node-" in name),
        ("people's", lambda name: "-person-" in name),
    ):
        base = timings(baseline, filter(select, baseline.created))
        for result in (csrgate, baseline):
            figures = timings(result, filter(select, result.created))
            spread = max(result.created.values()) - min(result.created.values())
            ratio = figures.to_last_s / base.to_last_s if base.to_last_s else float("nan")
            print(
                f"| {result.name} | {label}: {figures.approved}/{figures.count} Approved | {spread:.1f} | "
                f"{figures.to_last_s:.1f} | {figures.p50_s:.2f} | {figures.p95_s:.2f} | {ratio:.2f} |"
            )
    print()
    for result in (csrgate, baseline):
        names = set(result.created)
        observed = result.observed
        lost = sorted(names - set(observed.approved_at))
        twice = sorted(name for name, count in observed.approvals.items() if name in names and count > 1)
        denied = sorted(names & (observed.denied | observed.failed))
        print(
            f"- {result.name}: never Approved {len(lost)}{_some(lost)}; Approved twice {len(twice)}{_some(twice)}; "
            f"Denied or Failed {len(denied)}{_some(denied)}"
        )
    slack = slack_figures(csrgate.stack, channel, set(csrgate.people))
    unasked = [name for name in csrgate.people if slack.requests_per_csr[name] == 0]
    asked_twice = sorted(name for name, count in slack.requests_per_csr.items() if count > 1)
    print(
        f"- csrgate: people's CSRs without an approval request {len(unasked)}{_some(unasked)}; CSRs named by two or "
        f"more top-level messages {len(asked_twice)}{_some(asked_twice)}; messages left in queues "
        f"{csrgate.stack['queued']}, dead-lettered {csrgate.stack['dead_lettered']}\n"
    )
    print_slack(slack)
    print("| function | calls | s in handler | median ms | longest ms |\n|---|---:|---:|---:|---:|")
    for function, figures in sorted(csrgate.stack["functions"].items()):
        print(
            f"| {function} | {figures['calls']} | {figures['busy_s']:.1f} | {figures['median_ms']:.0f} | "
            f"{figures['max_ms']:.0f} |"
        )
    print()
    print_memory(run)


def print_slack(slack: SlackFigures) -> None:
    """The Slack tables: calls by method, then posts, updates and messages by where they went."""
    print("| Slack Web API method | calls |\n|---|---:|")
    for method, count in sorted(slack.calls.items()):
        print(f"| {method} | {count} |")
    print(f"| all | {sum(slack.calls.values())} |\n")
    print("| where | chat.postMessage top-level | in threads | chat.update | messages posted (top-level, threads) |")
    print("|---|---:|---:|---:|---:|")
    for where in sorted({where for where, _ in slack.posts} | set(slack.updates)):
        print(
            f"| {where} | {slack.posts[(where, 'top-level')]} | {slack.posts[(where, 'thread')]} | "
            f"{slack.updates[where]} | {slack.messages[(where, 'top-level')]}, {slack.messages[(where, 'thread')]} |"
        )
    minutes = sorted(slack.automatic_per_minute.items())
    per_minute = ", ".join(str(count) for _, count in minutes) or "none"
    most = max(slack.automatic_per_window.values(), default=0)
    print(
        f"\nAutomatic decisions in the review channel (top-level messages naming none of the people's CSRs): "
        f"{slack.automatic_posts} chat.postMessage and {slack.automatic_updates} chat.update; post calls per "
        f"wall-clock minute (those Slack answered 429 too): {per_minute}; windows told: "
        f"{len(slack.automatic_per_window)}, at most {most} message each; goal at most 1 per cluster and window: "
        f"{'met' if most <= 1 else 'not met'}\n"
    )


def print_memory(run: Run) -> None:
    """Per function: the cold start's resident set and the traced pass's peaks; the stack process's peak RSS."""
    traced = run.traced.stack["functions"] if run.traced else {}
    print(
        "| function | cold start s | RSS after cold start MiB | traced calls | tracemalloc peak in a call, median MiB "
        "| max MiB |\n|---|---:|---:|---:|---:|---:|"
    )
    for function in sorted(run.cold_starts or traced):
        cold = run.cold_starts.get(function, {})
        calls = traced.get(function, {})
        print(
            f"| {function} | {cold.get('seconds', float('nan')):.2f} | {cold.get('rss_mib', float('nan')):.0f} | "
            f"{calls.get('calls', 0)} | {calls.get('median_peak_mib', float('nan')):.1f} | "
            f"{calls.get('peak_mib', float('nan')):.1f} |"
        )
    print()
    for result in (run.csrgate, run.traced, run.baseline):
        if result is None:
            continue
        memory, peak = result.stack["memory"], result.stack["traced_peak_mib"]
        traced_text = f", tracemalloc peak {peak:.0f} MiB" if peak is not None else ""
        print(
            f"- stack process during the {result.name} burst: peak RSS {memory['VmHWM']:.0f} MiB, "
            f"RSS at its end {memory['VmRSS']:.0f} MiB{traced_text}"
        )


def _some(names: list[str], shown: int = 5) -> str:
    return f" ({', '.join(names[:shown])}{', …' if len(names) > shown else ''})" if names else ""


# --- main ----------------------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    """Start the stack, mint the node group, run csrgate's burst, the traced pass, then the baseline's; report."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--nodes", type=int, default=250, help="node identities joining (default 250)")
    parser.add_argument("--per-node", type=int, default=2, help="kubelet-serving CSRs each node creates (default 2)")
    parser.add_argument("--people", type=int, default=20, help="CSRs that need a person (default 20)")
    parser.add_argument("--window", type=float, default=45.0, help="seconds over which CSRs are created (default 45)")
    parser.add_argument("--threads", type=int, default=8, help="threads creating CSRs (default 8)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a phase may take after its creates")
    parser.add_argument(
        "--traced-nodes", type=int, default=25, help="nodes in the traced pass, 0 for none (default 25)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="csrgate-burst-") as temporary:
        stack = StackProcess(Path(temporary))
        try:
            run = run_bench(args, stack)
        finally:
            stack.quit()
    print_report(args, run, stack.client.channel)
    return 0


def run_bench(args: argparse.Namespace, stack: StackProcess) -> Run:
    """csrgate's burst, the traced pass, then the baseline's with csrgate's forwarder stopped: all on one stack."""
    dev = stack.client
    admin_kubeconfig = Path(dev.stack["kubeconfig"])
    server = yaml.safe_load(admin_kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    admin_client = config.new_client_from_config(str(admin_kubeconfig))
    admin = client.CertificatesV1Api(admin_client)
    kubelets = node_group(admin_kubeconfig.parent, server, args.nodes)
    core = client.CoreV1Api(admin_client)
    with ThreadPoolExecutor(args.threads) as pool:
        list(pool.map(lambda kubelet: core.create_node(kubelet.node()), kubelets))
    as_nodes = [
        (kubelet, client.CertificatesV1Api(config.new_client_from_config(str(kubelet.kubeconfig))))
        for kubelet in kubelets
    ]
    burst = Burst(as_nodes, admin, dev.stack["users"][dev.user("dana")]["email"], args.per_node)
    # one CSR through everything first: the dev cluster's Go reader and the functions' clients are warm
    as_nodes[0][1].create_certificate_signing_request(as_nodes[0][0].serving_csr("warm-up"))
    wait_for("the warm-up CSR to be approved", lambda: _is_approved(admin, "warm-up"), timeout=60)

    def settled(people: list[str]) -> bool:
        files = [delivered["name"] for delivered in dev.files()]
        delivered = {name for name in people for file_name in files if name in file_name}
        state = stack.ask("idle")
        return len(delivered) == len(people) and state["queued"] == 0 and state["idle_for"] >= 2

    plan = burst.plan("csrgate", args.nodes, args.people, args.window)
    csrgate = run_phase("csrgate", stack, plan, args.threads, clicking_approver(dev), args.timeout, settled)
    names = [*csrgate.created, "warm-up"]
    traced, cold_starts = None, {}
    if args.traced_nodes:
        stack.ask("trace", True)
        share = max(1, round(args.people * args.traced_nodes / args.nodes))
        plan = burst.plan("traced", args.traced_nodes, share, args.window * args.traced_nodes / args.nodes)
        traced = run_phase("traced", stack, plan, args.threads, clicking_approver(dev), args.timeout, settled)
        stack.ask("trace", False)
        cold_starts = stack.ask("cold_starts", timeout=600)["cold_starts"]
        names += traced.created

    stack.ask("stop_forwarder")
    with ThreadPoolExecutor(args.threads) as pool:  # the dev cluster's controllers pass over every object kept
        list(pool.map(admin.delete_certificate_signing_request, names))
    approver = BaselineApprover(dev.stack["approver_kubeconfig"]).start()
    try:
        plan = burst.plan("baseline", args.nodes, args.people, args.window)
        baseline = run_phase("baseline", stack, plan, args.threads, kubectl_approver(admin), args.timeout)
    finally:
        approver.stop()
    return Run(csrgate, traced, cold_starts, baseline)


def _is_approved(api: client.CertificatesV1Api, name: str) -> bool:
    conditions = api.read_certificate_signing_request(name).status.conditions or []
    return any(c.type == APPROVED for c in conditions)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
