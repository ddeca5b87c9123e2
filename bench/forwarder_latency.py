"""Time from creating a CSR to its event arriving at csrgate's API, through the forwarder, against a plain watch.

The forwarder runs as a real process (`python -m csrgate.forwarder`) against the dev cluster and posts,
signed with HMAC, to a local receiver that verifies each signature. The baseline, measured in the same run, is
the time for the same dev cluster to show the created CSR to a plain watch (the official client's Watch): what
any watcher must wait for. The forwarder adds the change tracking, the queue, signing and one HTTP POST.

- trickle: CSRs created one at a time, spaced out: the latency of one CSR on an idle forwarder;
- burst: CSRs created as fast as the API accepts them over 4 connections: the latency under load.

Each latency is measured from just before the create request was sent. The dev cluster, the receiver and the
baseline watch share this process; the forwarder has its own.

    .venv/bin/python bench/forwarder_latency.py [--burst N] [--trickle N] [--spacing SECONDS]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import threading
import time
from pathlib import Path

import urllib3
from kubernetes import client, config, watch

from devstack.cluster import DevCluster
from devstack.forwarder_process import ForwarderProcess, forwarder_env
from devstack.forwarder_rig import HMAC_KEY, CsrMaker, Receiver


class PlainWatch:
    """The baseline: when a plain watch first sees each CSR added."""

    def __init__(self, cluster: DevCluster) -> None:
        self._api = client.CertificatesV1Api(config.new_client_from_config(str(cluster.admin_kubeconfig)))
        self.seen: dict[str, float] = {}
        self._watch = watch.Watch(return_type="object")
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._watch.stop()

    def _run(self) -> None:
        version = self._api.list_certificate_signing_request().metadata.resource_version
        try:
            for event in self._watch.stream(
                self._api.list_certificate_signing_request, resource_version=version, allow_watch_bookmarks=True
            ):
                if event["type"] == "ADDED":
                    self.seen.setdefault(event["raw_object"]["metadata"]["name"], time.time())
        except (urllib3.exceptions.HTTPError, OSError):
            pass  # the dev cluster stopped at the end of the run


def wait_for(names: list[str], seen: dict[str, float] | None, receiver: Receiver, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not (receiver.names() >= set(names) and (seen is None or set(seen) >= set(names))):
        if time.monotonic() > deadline:
            raise SystemExit(f"not every CSR arrived within {seconds} s")
        time.sleep(0.02)


def latencies(created: dict[str, float], arrived: dict[str, float], names: list[str]) -> list[float]:
    return [(arrived[name] - created[name]) * 1000 for name in names]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def first_arrivals(receiver: Receiver) -> dict[str, float]:
    arrived: dict[str, float] = {}
    for arrival in receiver.arrivals:
        arrived.setdefault(arrival.name, arrival.at)
    return arrived


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=500, help="CSRs created as fast as the API accepts them")
    parser.add_argument("--trickle", type=int, default=30, help="CSRs created one at a time")
    parser.add_argument("--spacing", type=float, default=0.2, help="seconds between trickle CSRs")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}: {args.trickle} trickle, {args.burst} burst\n")
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        cluster = DevCluster(directory / "cluster").start()
        receiver = Receiver(HMAC_KEY.encode())
        receiver.up()
        key_file = directory / "hmac-key"
        key_file.write_text(HMAC_KEY + "\n")
        env = forwarder_env(cluster.approver_kubeconfig, receiver.url, key_file)
        forwarder = ForwarderProcess(env, directory / "forwarder.log").start()
        baseline = PlainWatch(cluster)
        baseline.start()
        maker = CsrMaker(cluster)
        try:
            maker.create(["warm-up"])  # both watches are connected once both saw it
            wait_for(["warm-up"], baseline.seen, receiver, 30)

            trickle = [f"trickle-{n:03d}" for n in range(args.trickle)]
            for name in trickle:
                maker.create([name])
                time.sleep(args.spacing)
            wait_for(trickle, baseline.seen, receiver, 60)

            burst = [f"burst-{n:04d}" for n in range(args.burst)]
            started = time.monotonic()
            maker.create(burst)
            created_in = time.monotonic() - started
            wait_for(burst, baseline.seen, receiver, 300)
            drained_in = time.monotonic() - started
            assert forwarder.process is not None
            memory = rss_mib(forwarder.process.pid)
        finally:
            baseline.stop()
            forwarder.terminate()
            receiver.down()
            cluster.stop()

    arrived = first_arrivals(receiver)
    print(f"{'scenario':<8} {'path':<26} {'median ms':>10} {'p95 ms':>8} {'x watch (median, p95)':>22}")
    for scenario, names in (("trickle", trickle), ("burst", burst)):
        watched = latencies(maker.created_at, baseline.seen, names)
        forwarded = latencies(maker.created_at, arrived, names)
        base_median, base_p95 = statistics.median(watched), p95(watched)
        median, tail = statistics.median(forwarded), p95(forwarded)
        print(f"{scenario:<8} {'plain watch (baseline)':<26} {base_median:>10.1f} {base_p95:>8.1f} {'1.00, 1.00':>22}")
        ratio = f"{median / base_median:.2f}, {tail / base_p95:.2f}"
        print(f"{scenario:<8} {'forwarder to receiver':<26} {median:>10.1f} {tail:>8.1f} {ratio:>22}")
    print(
        f"\nburst: {args.burst} CSRs created in {created_in:.1f} s ({args.burst / created_in:.0f}/s), all arrived "
        f"{drained_in:.1f} s after the first create; forwarder RSS after the burst: {memory:.0f} MiB"
    )


if __name__ == "__main__":
    main()
