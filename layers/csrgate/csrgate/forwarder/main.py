"""The forwarder process: wire the parts, run until SIGTERM, then drain what is queued before a deadline.

Threads: one list/watch loop, one sender per queue lane, the health server, and from readiness on the heartbeat. On
SIGTERM the heartbeat stops at once, the watch stops taking new changes, the senders send what is queued (still
retrying) until CSRGATE_DRAIN_SECONDS have passed, and whatever is left is counted and logged: pending CSRs among it
are sent again by the next start's list.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import botocore.session
import urllib3
from prometheus_client import disable_created_metrics

from csrgate.forwarder.backoff import Backoff
from csrgate.forwarder.changes import ChangeTracker
from csrgate.forwarder.config import ConfigError, ForwarderConfig, load_config
from csrgate.forwarder.health import HealthServer
from csrgate.forwarder.heartbeat import Heartbeat
from csrgate.forwarder.kube import KubernetesCsrApi, api_client
from csrgate.forwarder.logs import configure_logging
from csrgate.forwarder.metrics import ForwarderMetrics
from csrgate.forwarder.queue import DeliveryQueue
from csrgate.forwarder.sender import HmacSigner, Sender, Signer, SigV4Signer
from csrgate.forwarder.source import CsrApi, CsrSource

LOG = logging.getLogger("csrgate.forwarder")
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
# Below the watch's reconnect backoff cap: a cluster API outage is retried often enough to notice its end.
WATCH_RETRY_BASE, WATCH_RETRY_CAP = 0.5, 30.0


class Forwarder:
    """The running forwarder: request_stop() from any thread (or a signal), run() returns after the drain."""

    def __init__(
        self,
        config: ForwarderConfig,
        api: CsrApi,
        signer: Signer,
        metrics: ForwarderMetrics | None = None,
        http: urllib3.PoolManager | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or ForwarderMetrics()
        self._stop_requested = threading.Event()
        self._stopping = threading.Event()  # the watch stops taking changes
        self._aborting = threading.Event()  # the drain deadline passed: senders give up
        self.queue = DeliveryQueue(config.senders, config.queue_size, self.metrics.queue_depth.set)
        self.source = CsrSource(
            api,
            ChangeTracker(config.signers),
            self.queue.put,
            self.metrics,
            Backoff(WATCH_RETRY_BASE, WATCH_RETRY_CAP),
            self._stopping,
            config.watch_timeout,
        )
        # One connection per lane and one for the heartbeat, so a heartbeat never waits for a lane's connection.
        pool = http or urllib3.PoolManager(maxsize=config.senders + 1, retries=False)
        self._sender = Sender(
            config.events_url,
            config.cluster,
            signer,
            pool,
            config.request_timeout,
            lambda: Backoff(config.retry_base, config.retry_cap),
            self.metrics,
            self._aborting.wait,
        )
        self._watch_thread = threading.Thread(target=self.source.run, name="watch", daemon=True)
        self._lane_threads = [
            threading.Thread(target=self._send_lane, args=(lane,), name=f"sender-{lane}", daemon=True)
            for lane in range(self.queue.lanes)
        ]
        self._heartbeat_thread: threading.Thread | None = None
        self._heartbeat_started: list[threading.Thread] = []  # the heartbeat's thread once started, at readiness
        if config.heartbeat_seconds:
            heartbeat = Heartbeat(self._sender, config.heartbeat_seconds, self.metrics, self._stop_requested.wait)
            self._heartbeat_thread = threading.Thread(target=heartbeat.run, name="heartbeat", daemon=True)
        self.health = HealthServer(
            config.http_address, config.http_port, self.alive, self.source.ready.is_set, self.metrics.registry
        )

    def alive(self) -> bool:
        """Every worker thread is running (or the process is shutting down on purpose)."""
        threads = [self._watch_thread, *self._lane_threads, *self._heartbeat_started]
        return self._stop_requested.is_set() or all(thread.is_alive() for thread in threads)

    def request_stop(self) -> None:
        """Begin the shutdown: run() drains and returns."""
        self._stop_requested.set()

    def run(self) -> int:
        """Serve until request_stop(), then drain; the exit status."""
        port = self.health.start()
        for thread in [*self._lane_threads, self._watch_thread]:
            thread.start()
        LOG.info(
            "forwarder.started",
            extra={
                "cluster": self.config.cluster,
                "url": self.config.events_url,
                "auth": self.config.auth,
                "signers": sorted(self.config.signers) if self.config.signers is not None else "*",
                "http_port": port,
                "senders": self.queue.lanes,
                "queue_size": self.config.queue_size,
                "heartbeat_seconds": self.config.heartbeat_seconds,
            },
        )
        was_ready = False
        while not self._stop_requested.wait(0.5):
            if not was_ready and self.source.ready.is_set():
                was_ready = True
                self.metrics.ready.set(1)
                LOG.info("forwarder.ready", extra={"resource_version": self.source.resource_version})
                if self._heartbeat_thread is not None:
                    self._heartbeat_thread.start()
                    self._heartbeat_started.append(self._heartbeat_thread)
        return self._drain()

    def _drain(self) -> int:
        deadline = time.monotonic() + self.config.drain_seconds
        queued = self.queue.depth
        LOG.info("forwarder.draining", extra={"queued": queued, "deadline_seconds": self.config.drain_seconds})
        self._stopping.set()
        self.queue.close()
        # The heartbeat saw the stop already; only a POST under way can keep it, and never past the deadline.
        for thread in [*self._lane_threads, *self._heartbeat_started]:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._aborting.set()
        for thread in self._lane_threads:
            thread.join(self.config.request_timeout + 1.0)  # an attempt under way ends within its timeout
        left = self.queue.depth
        if left:
            self.metrics.events_failed.labels(reason="shutdown").inc(left)
        self.health.stop()
        LOG.info("forwarder.stopped", extra={"abandoned": left})
        return EXIT_OK

    def _send_lane(self, lane: int) -> None:
        while not self._aborting.is_set():
            event = self.queue.get(lane)
            if event is None:
                return
            try:
                self._sender.deliver(event)
            except Exception:  # a bug in one delivery must not stop the lane (and every CSR hashed to it)
                LOG.exception("event.failed", extra={"csr": event.name, "type": event.type})
                self.metrics.events_failed.labels(reason="bug").inc()


def signer_for(config: ForwarderConfig) -> Signer:
    """HMAC with the mounted key, or SigV4 with botocore's default credential chain."""
    if config.auth == "hmac":
        if config.hmac_key_file is None:  # ForwarderConfig.from_environment requires it for hmac
            raise ValueError("CSRGATE_HMAC_KEY_FILE is required with CSRGATE_AUTH=hmac")
        return HmacSigner(config.hmac_key_file, config.cluster)
    if config.aws_region is None:  # ForwarderConfig.from_environment requires it for iam
        raise ValueError("CSRGATE_AWS_REGION is required with CSRGATE_AUTH=iam")
    session = botocore.session.get_session()
    return SigV4Signer(config.aws_region, session.get_credentials)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the forwarder from the environment; exit 2 with one line naming the bad setting."""
    if argv:
        print("csrgate forward: takes no arguments; it is configured with CSRGATE_* variables", file=sys.stderr)
        return EXIT_CONFIG
    try:
        config = load_config()
        api = KubernetesCsrApi(api_client(config.kube))
        signer = signer_for(config)
    except ConfigError as exc:
        print(f"csrgate forward: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(config.log_level)
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series only double what is scraped
    try:
        forwarder = Forwarder(config, api, signer)
    except OSError as exc:  # the health port is taken, or the address is not this host's
        where = f"CSRGATE_HTTP_ADDRESS {config.http_address!r} and CSRGATE_HTTP_PORT {config.http_port}"
        LOG.error("forwarder.failed", extra={"reason": f"{where} cannot be served: {exc}"})
        return EXIT_FAILED
    with _stop_on_signals(forwarder.request_stop):
        return forwarder.run()


@contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM (the kubelet) and SIGINT (Ctrl-C) request a graceful stop; the old handlers come back after."""

    def handle(signum: int, frame: FrameType | None) -> None:
        LOG.info("forwarder.signal", extra={"signal": signal.Signals(signum).name})
        stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
