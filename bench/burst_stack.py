"""The stack `csrgate dev up` runs, in a process of its own, with each function's handler measured where it runs;
the commands bench/burst.py sends it.

Four things differ from `csrgate dev up`, each because a burst would otherwise measure the stand-ins, not csrgate:
the dev cluster keeps its objects in memory (on file, each change rewrites the whole state) and signs kubelet-serving
certificates (as a kubeadm cluster does: without a signer, csrgate's worker waits 10 s for each certificate); moto's
DynamoDB transactions save only the items they touch (roll_back_touched_items_only), and the web server under moto
drains a request without a 10 MB buffer (drain_in_small_reads).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import logging
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import boto3

from devstack.client import DevStackClient

LOG = logging.getLogger("bench.burst")
_QUEUE_COUNTS = [f"ApproximateNumberOf{what}" for what in ("Messages", "MessagesNotVisible", "MessagesDelayed")]
# A function alone in a fresh interpreter, as a Lambda container's cold start imports and builds it (not through
# devstack.harness, which imports the Kubernetes client for every function): its resident set then, in KiB.
_COLD_START = """\
import importlib.util, json, sys, time
from pathlib import Path
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", Path(sys.argv[1]) / "app.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
took = time.perf_counter() - started
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
print(json.dumps({"seconds": took, "rss_kib": int(status["VmRSS"].split()[0])}))
"""


class Meter:
    """Each function's calls since the last reset: time in the handler, and tracemalloc's peak while it ran.

    tracemalloc counts the whole process, so a call's peak includes whatever else allocated meanwhile (the dev
    cluster, moto, the stand-ins, another function): an upper bound for the function itself."""

    def __init__(self, functions: Mapping[str, Any]) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, list[int]] = {}  # call -> [traced bytes when it began, highest peak seen since]
        self._ids = itertools.count()
        self._done: dict[str, list[tuple[float, int]]] = {name: [] for name in functions}
        self._last_end = time.monotonic()
        for name, function in functions.items():
            # LocalFunction.invoke calls its module's lambda_handler inside its one-at-a-time lock: measured there,
            # a call's time leaves out its wait for the function's one container
            module = function._module
            module.lambda_handler = self._measured(name, module.lambda_handler)

    def reset(self) -> None:
        """Forget the calls so far."""
        with self._lock:
            for calls in self._done.values():
                calls.clear()

    def idle_for(self) -> float:
        """Seconds since the last call ended; 0 while one runs."""
        with self._lock:
            return 0.0 if self._running else time.monotonic() - self._last_end

    def report(self) -> dict[str, dict[str, float]]:
        """Per function: calls, seconds in the handler in all, median and longest call in ms, highest and median
        tracemalloc peak above the call's start in MiB (0 when not tracing)."""
        with self._lock:
            done = {name: list(calls) for name, calls in self._done.items()}
        report = {}
        for name, calls in done.items():
            seconds, peaks = [s for s, _ in calls] or [0.0], [p / 2**20 for _, p in calls] or [0.0]
            report[name] = {
                "calls": len(calls),
                "busy_s": sum(seconds),
                "median_ms": statistics.median(seconds) * 1000,
                "max_ms": max(seconds) * 1000,
                "peak_mib": max(peaks),
                "median_peak_mib": statistics.median(peaks),
            }
        return report

    def _measured(self, name: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def measured(event: Any, context: Any) -> Any:
            call = self._begin()
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                self._end(name, call, time.perf_counter() - started)

        return measured

    def _fold(self) -> int:
        """Give every running call the peak since the last fold, start a new peak; the traced bytes now. Under _lock."""
        if not tracemalloc.is_tracing():
            return 0
        current, peak = tracemalloc.get_traced_memory()
        for span in self._running.values():
            span[1] = max(span[1], peak)
        tracemalloc.reset_peak()
        return current

    def _begin(self) -> int:
        with self._lock:
            current = self._fold()
            call = next(self._ids)
            self._running[call] = [current, current]
            return call

    def _end(self, name: str, call: int, seconds: float) -> None:
        with self._lock:
            self._fold()
            began, high = self._running.pop(call)
            self._done[name].append((seconds, high - began))
            self._last_end = time.monotonic()


def roll_back_touched_items_only() -> None:
    """moto's transact_write_items deep-copies every table a transaction writes to, to put the copy back if it fails:
    a cost that grows with the table, which DynamoDB's does not (in a 124-CSR burst, two thirds of the stack's time
    went to those copies, and it grows with the square of the burst). The stack serves DynamoDB calls one at a time
    (devstack.aws.serialized_dynamodb), so saving only the items the transaction names, and putting those back when
    it fails, rolls back the same. Only this process's moto is changed."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    backends: Any = DynamoDBBackend  # both classes are changed here, which their types do not allow for
    tables: Any = Table
    transaction = threading.local()
    transact = backends.transact_write_items

    def copy_table(table: Any, memo: dict[int, Any]) -> Any:
        if getattr(transaction, "running", False):
            return table  # moto's backup is the table itself; the saved items are put back below
        copied = tables.__new__(type(table))  # elsewhere, the deep copy moto would have made
        memo[id(table)] = copied
        copied.__dict__.update(copy.deepcopy(table.__dict__, memo))
        return copied

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            operation, request = next(iter(entry.items()))
            table = backend.tables.get(request.get("TableName"))
            try:
                key = request["Key"] if operation != "Put" else _item_key(table, request["Item"])
                saved.append((table.name, key, copy.deepcopy(backend.get_item(table.name, key))))
            except Exception:  # noqa: S112 - moto itself refuses the transaction for it, and changes nothing
                continue
        transaction.running = True
        try:
            transact(backend, transact_items)
        except Exception:
            for table_name, key, before in reversed(saved):
                if before is None:
                    backend.delete_item(table_name, key)
                else:
                    backend.put_item(table_name, before.to_json()["Attributes"])
            raise
        finally:
            transaction.running = False

    tables.__deepcopy__ = copy_table
    backends.transact_write_items = transact_write_items


def _item_key(table: Any, item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in (table.hash_key_attr, table.range_key_attr) if name is not None}


def drain_in_small_reads() -> None:
    """werkzeug's development server, which serves moto here, drains each request's socket after answering with
    rfile.read(10_000_000): a 10 MB buffer for every AWS call, which tracemalloc counts in the peak of whichever
    function's call is running. Its drain reads what has come instead; every other read is as it was."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    handlers: Any = MotoRequestHandler  # changed here, which its type does not allow for
    setup = handlers.setup

    def setup_draining_reader(handler: Any) -> None:
        setup(handler)
        handler.rfile = _DrainingReader(handler.rfile)

    handlers.setup = setup_draining_reader


class _DrainingReader:
    """A buffered reader whose read of the drain's size reads what is there (at most 64 KiB), as read1 does."""

    _DRAIN = 10_000_000  # werkzeug.serving's WSGIRequestHandler.run_wsgi

    def __init__(self, reader: Any) -> None:
        self._reader = reader

    def read(self, size: int = -1) -> bytes:
        if size == self._DRAIN:
            return bytes(self._reader.read1(65536))
        return bytes(self._reader.read(size))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


def memory_status() -> dict[str, float]:
    """This process's peak and current resident set (MiB), as /proc/self/status has them."""
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) / 1024
    return found


def reset_peak_rss() -> None:
    """Start VmHWM afresh (Linux: 5 to /proc/self/clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cold_starts(functions: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Each function imported and built alone in a fresh interpreter with its environment, against the running
    stack: seconds, and the resident set (MiB) it leaves, before any call."""
    found = {}
    for name, function in functions.items():
        done = subprocess.run(
            [sys.executable, "-c", _COLD_START, str(function.code_dir)],
            env={**os.environ, **function.environment},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        found[name] = {"seconds": measured["seconds"], "rss_mib": measured["rss_kib"] / 1024}
    return found


def queued(sqs: Any) -> dict[str, int]:
    """Messages in csrgate's queues (waiting, in flight or delayed) and in their dead-letter queues."""
    counts = {"queued": 0, "dead_lettered": 0}
    for url in sqs.list_queues().get("QueueUrls", []):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=_QUEUE_COUNTS)["Attributes"]
        kind = "dead_lettered" if "DeadLetter" in url else "queued"
        counts[kind] += sum(int(attributes.get(name, 0)) for name in _QUEUE_COUNTS)
    return counts


def serve_stack(data_dir: Path, commands: Connection) -> None:
    """The child process: `csrgate dev up`'s stack, measured, answering the bench's commands until told to quit."""
    from devstack.up import DevStack  # here: the bench's own process never loads the functions

    log = open(data_dir / "dev-up.log", "ab")  # noqa: SIM115 - this process's stdout until it ends
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):  # as `csrgate dev up` does
        logging.getLogger(noisy).setLevel(logging.WARNING)
    roll_back_touched_items_only()
    drain_in_small_reads()
    stack = DevStack(data_dir)
    stack.cluster.kubelet_serving_signer = True
    stack.cluster.persist = False
    try:
        stack.start()
        commands.send({"stack": stack.describe()})
        _serve(stack, Meter(stack.functions), boto3.client("sqs"), commands)
    finally:
        stack.stop()


def _serve(stack: Any, meter: Meter, sqs: Any, commands: Connection) -> None:
    slack = stack.slack
    slack.channel_posts_per_second = 1.0  # as Slack takes chat.postMessage in a channel: the burst meets Slack's pace
    while True:
        try:
            command, argument = commands.recv()
        except EOFError:
            return  # the bench is gone
        try:
            if command == "quit":
                commands.send({})
                return
            if command == "begin":  # a phase begins: count from here
                meter.reset()
                reset_peak_rss()
                if tracemalloc.is_tracing():
                    tracemalloc.reset_peak()
                commands.send({"calls": len(slack.calls), "messages": len(slack.messages)})
            elif command == "end":  # what happened since `begin` (its answer is the argument)
                commands.send(_since(slack, meter, sqs, argument))
            elif command == "idle":
                commands.send({"idle_for": meter.idle_for(), **queued(sqs)})
            elif command == "trace":  # tracemalloc on (True) or off
                if argument and not tracemalloc.is_tracing():
                    tracemalloc.start()
                elif not argument and tracemalloc.is_tracing():
                    tracemalloc.stop()
                commands.send({})
            elif command == "cold_starts":
                commands.send({"cold_starts": cold_starts(stack.functions)})
            elif command == "stop_forwarder":
                if stack.forwarder is not None:
                    stack.forwarder.stop()
                    stack.forwarder = None
                commands.send({})
            else:
                commands.send({"error": f"unknown command {command!r}"})
        except Exception as exc:  # the bench shows it and stops
            LOG.exception("%s failed", command)
            commands.send({"error": f"{command}: {type(exc).__name__}: {exc}"})


def _since(slack: Any, meter: Meter, sqs: Any, marks: dict[str, int]) -> dict[str, Any]:
    calls, times = list(slack.calls[marks["calls"] :]), list(slack.call_times[marks["calls"] :])
    posted = list(slack.messages[marks["messages"] :])
    return {
        **queued(sqs),
        "functions": meter.report(),
        "memory": memory_status(),
        "traced_peak_mib": tracemalloc.get_traced_memory()[1] / 2**20 if tracemalloc.is_tracing() else None,
        "calls": [_call(method, arguments, at) for (method, arguments), at in zip(calls, times, strict=False)],
        "messages": [
            {"channel": m.channel, "thread_ts": m.thread_ts, "text": m.text + json.dumps(m.blocks)} for m in posted
        ],
    }


def _call(method: str, arguments: dict[str, Any], at: float) -> dict[str, Any]:
    blocks = arguments.get("blocks")
    return {
        "method": method,
        "at": at,
        "channel": str(arguments.get("channel") or ""),
        "thread_ts": arguments.get("thread_ts") or None,
        "text": str(arguments.get("text") or "") + (json.dumps(blocks) if blocks else ""),
    }


class StackProcess:
    """The stack's process, and the commands it answers."""

    def __init__(self, data_dir: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self._commands, theirs = context.Pipe()
        self._process = context.Process(target=serve_stack, args=(data_dir, theirs), daemon=True)
        self._process.start()
        ready = self._receive("start", 180)
        self.client = DevStackClient(ready["stack"], data_dir)

    def ask(self, command: str, argument: Any = None, timeout: float = 120) -> dict[str, Any]:
        """Send a command; its answer."""
        self._commands.send((command, argument))
        return self._receive(f"answer {command!r}", timeout)

    def quit(self) -> None:
        """Stop the stack and its process."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, EOFError, RuntimeError):
                self.ask("quit", timeout=90)
            self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)

    def _receive(self, what: str, timeout: float) -> dict[str, Any]:
        if not self._commands.poll(timeout):
            raise RuntimeError(f"the stack's process did not {what} within {timeout:.0f} s")
        answer = dict(self._commands.recv())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer
