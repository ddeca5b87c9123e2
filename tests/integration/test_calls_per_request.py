"""What one CSR costs in calls, counted through the real functions: every AWS call by operation, DynamoDB's read and
write request units (from the sizes of the items read and written, as DynamoDB bills them), the SQS messages sent,
the Slack Web API calls and the bytes of log lines, for the two main paths of a CSR (approved by the policy, reviewed
by a person), for a CSR csrgate leaves alone, and for what runs whatever the load (a heartbeat, a sweep).

AWS is moto provisioned from template.yaml, Slack the stand-in, the cluster a dev cluster that also signs kubelet
serving certificates, reached by the worker as production reaches it (its kubeconfig in Secrets Manager). Every
AWS call the functions make is seen through botocore's event system: the handlers below are added to the handlers
every new botocore session registers (what moto itself does to serve the calls), so the clients the functions build
for themselves report to them, and the test's own clients (made before) do not.

The counts are exact on purpose: a change that adds a call to a path fails here. docs/cost.md builds csrgate's
monthly cost from these figures: updating a count here means updating docs/cost.md.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from botocore import handlers
from cluster_access import csr_manifest
from stack import Stack, running_stack

from devstack.cluster import DevCluster
from devstack.cluster.nodes import node_manifest
from devstack.csrs import make_csr
from devstack.demo import csr_manifest as docs_manifest
from devstack.harness import Kubectl, LambdaContext, load_function
from devstack.lab import CLUSTERS, PEOPLE
from devstack.lambda_events import click, hmac_event, interaction_event, sqs_event

KB = 1024
SQS_CHUNK = 64 * KB  # SQS bills a message per 64 KB
LAB = {
    **CLUSTERS["lab"],
    "approvers": {"users": ["U0ALICE"]},
    # kubectl runs as the dev cluster's admin: dana's own CSR is tied to dana, so one approval decides
    "requesterEmails": {"csrgate-admin": "dana@example.com", "dana": "dana@example.com"},
}
DANA = {"U0DANA": {"name": "dana", "email": "dana@example.com"}}


# --- DynamoDB's request units, from item sizes --------------------------------------------------------------------


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it: each attribute's name and value, in UTF-8 bytes."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    [(kind, data)] = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return _number_size(data)
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(element.encode()) for element in data)
    if kind == "NS":
        return sum(_number_size(element) for element in data)
    if kind == "BS":
        return sum(len(element) for element in data)
    if kind == "L":  # 3 bytes, and 1 per element
        return 3 + sum(1 + _value_size(element) for element in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(element) for name, element in data.items())
    raise ValueError(f"unknown attribute type {kind}")


def _number_size(text: str) -> int:
    """About one byte per two significant digits, plus one (and one more when negative)."""
    digits = str(Decimal(text).normalize()).lstrip("-").replace(".", "").lstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1 + text.startswith("-")


def write_units(size: int, transactional: bool = False) -> int:
    """A write of `size` bytes: one unit per KB started (two in a transaction), at least one."""
    return max(1, math.ceil(size / KB)) * (2 if transactional else 1)


def read_units(size: int, consistent: bool) -> float:
    """A read of `size` bytes: one unit per 4 KB started when strongly consistent, half that when eventually."""
    return max(1, math.ceil(size / (4 * KB))) * (1.0 if consistent else 0.5)


# --- the meter ------------------------------------------------------------------------------------------------


@dataclass
class Spend:
    """What one function invocation (or one cold start) spent."""

    calls: Counter[str] = field(default_factory=Counter)  # "<service>.<Operation>"
    read_units: float = 0.0
    write_units: int = 0  # the table's, transactions at two per KB
    index_write_units: int = 0  # the global secondary indexes' (projection ALL), one per KB per index entry written
    sqs_messages: int = 0  # SendMessage entries, in 64 KB chunks
    slack: Counter[str] = field(default_factory=Counter)
    audit_lines: int = 0
    audit_bytes: int = 0
    metric_lines: int = 0
    metric_bytes: int = 0
    other_lines: int = 0
    other_bytes: int = 0

    def figures(self) -> dict[str, Any]:
        """What the test pins: the calls, units, messages and Slack calls (log bytes are checked apart)."""
        return {
            "aws": dict(sorted(self.calls.items())),
            "rru": self.read_units,
            "wru": self.write_units,
            "index_wru": self.index_write_units,
            "sqs": self.sqs_messages,
            "slack": dict(sorted(self.slack.items())),
            "log_lines": (self.audit_lines, self.metric_lines, self.other_lines),
        }

    def row(self, phase: str) -> str:
        calls = ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))
        slack = ", ".join(f"{name} {count}" for name, count in sorted(self.slack.items()))
        return (
            f"{phase:<28} RRU {self.read_units:>4} WRU {self.write_units:>3}+{self.index_write_units:<2} "
            f"SQS {self.sqs_messages} | log audit {self.audit_lines}/{self.audit_bytes} B, metrics "
            f"{self.metric_lines}/{self.metric_bytes} B, other {self.other_lines}/{self.other_bytes} B "
            f"| {calls} | slack: {slack}"
        )


class Meter:
    """Counts what the functions spend, phase by phase, through botocore's events and the stand-ins' records."""

    def __init__(self, stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
        self.stack = stack
        self._capsys = capsys
        self._reader = stack.session.client("dynamodb")  # made before the handlers are added: not counted
        table = self._reader.describe_table(TableName=stack.resources["RequestTable"])["Table"]
        self._index_keys = [
            tuple(key["AttributeName"] for key in index["KeySchema"]) for index in table["GlobalSecondaryIndexes"]
        ]
        self.phases: dict[str, Spend] = {}
        self._current: Spend | None = None
        self._closed = False

    def handlers(self) -> list[tuple[str, Any]]:
        """botocore handlers: the request's parameters before it is built, its answer after."""
        return [("before-parameter-build", self._before), ("after-call", self._after)]

    @contextmanager
    def phase(self, name: str) -> Iterator[Spend]:
        """Everything spent inside the block is this phase's (log lines: what the functions printed meanwhile)."""
        self._capsys.readouterr()
        slack_before = len(self.stack.slack.calls)
        spend = self.phases.setdefault(name, Spend())
        self._current = spend
        try:
            yield spend
        finally:
            self._current = None
            spend.slack.update(method for method, _ in self.stack.slack.calls[slack_before:])
            self._count_log(spend, self._capsys.readouterr().out)

    def report(self) -> str:
        return "\n".join(spend.row(phase) for phase, spend in self.phases.items())

    def close(self) -> None:
        """Count nothing more: clients made during the test may outlive it."""
        self._closed = True

    @staticmethod
    def _count_log(spend: Spend, output: str) -> None:
        for line in output.splitlines():
            size = len(line.encode()) + 1  # with its newline
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict) and "_aws" in record:
                spend.metric_lines, spend.metric_bytes = spend.metric_lines + 1, spend.metric_bytes + size
            elif isinstance(record, dict) and "event" in record:
                spend.audit_lines, spend.audit_bytes = spend.audit_lines + 1, spend.audit_bytes + size
            else:
                spend.other_lines, spend.other_bytes = spend.other_lines + 1, spend.other_bytes + size

    # --- botocore's events

    def _before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self._closed:
            return
        if self._current is None:
            raise AssertionError(f"an AWS call outside any phase: {model.name}")
        service = model.service_model.service_name
        self._current.calls[f"{service}.{model.name}"] += 1
        context["csrgate_params"] = params
        if service == "dynamodb":
            context["csrgate_before"] = {key: self._stored(key) for key in self._written_keys(model.name, params)}
        if service == "sqs":
            bodies = [params["MessageBody"]] if model.name == "SendMessage" else []
            bodies += [entry["MessageBody"] for entry in params.get("Entries", []) if "MessageBody" in entry]
            self._current.sqs_messages += sum(max(1, math.ceil(len(body.encode()) / SQS_CHUNK)) for body in bodies)

    def _after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if self._closed or model.service_model.service_name != "dynamodb" or self._current is None:
            return
        spend, operation = self._current, model.name
        params = context.get("csrgate_params") or {}
        consistent = bool(params.get("ConsistentRead"))  # never on an index
        if operation == "GetItem":
            spend.read_units += read_units(item_size(parsed.get("Item", {})), consistent)
        elif operation == "Query":  # what it returned; items a filter drops are billed too (the sweeper's, none here)
            spend.read_units += read_units(sum(item_size(item) for item in parsed.get("Items", [])), consistent)
        before: dict[tuple[str, str], dict[str, Any] | None] = context.get("csrgate_before", {})
        for key, old in before.items():
            new = self._stored(key)
            largest = max(item_size(old or {}), item_size(new or {}))
            spend.write_units += write_units(largest, transactional=operation == "TransactWriteItems")
            spend.index_write_units += self._index_writes(old, new)

    def _index_writes(self, old: dict[str, Any] | None, new: dict[str, Any] | None) -> int:
        """The index entries a write puts or deletes: one per index the item is in before or after, two when its
        index key changed (a delete and a put), each one unit per KB."""
        units = 0
        for keys in self._index_keys:
            was = old is not None and all(key in old for key in keys)
            now = new is not None and all(key in new for key in keys)
            if not (was or now) or (was and now and old == new):
                continue
            moved = was and now and any(old[key] != new[key] for key in keys)  # type: ignore[index]
            units += write_units(item_size(new if now else old)) * (2 if moved else 1)  # type: ignore[arg-type]
        return units

    @staticmethod
    def _written_keys(operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
        if operation == "PutItem":
            return [(params["Item"]["pk"]["S"], params["Item"]["sk"]["S"])]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["Key"]["pk"]["S"], params["Key"]["sk"]["S"])]
        if operation == "TransactWriteItems":
            keys = []
            for entry in params["TransactItems"]:
                [(_, action)] = entry.items()
                key = action.get("Key") or action["Item"]
                keys.append((key["pk"]["S"], key["sk"]["S"]))
            return keys
        return []

    def _stored(self, key: tuple[str, str]) -> dict[str, Any] | None:
        answer = self._reader.get_item(
            TableName=self.stack.resources["RequestTable"],
            Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = answer.get("Item")
        return item


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevCluster]:
    """A dev cluster of this module's own that also signs kubelet serving certificates, as a kubeadm cluster does."""
    cluster = DevCluster(tmp_path_factory.mktemp("signing-cluster"), kubelet_serving_signer=True).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def admin(signing_cluster: DevCluster, tmp_path: Path) -> Kubectl:
    return Kubectl.with_copy_of(signing_cluster.admin_kubeconfig, tmp_path / "admin")


@pytest.fixture
def meter(
    monkeypatch: pytest.MonkeyPatch, signing_cluster: DevCluster, capsys: pytest.CaptureFixture[str]
) -> Iterator[Meter]:
    """The local stack with cluster lab reached through the signing cluster's approver kubeconfig, and the meter on
    every botocore session made from now on."""
    with running_stack(monkeypatch) as stack:
        stack.session.client("secretsmanager").create_secret(
            Name="csrgate/clusters/lab/kubeconfig", SecretString=signing_cluster.approver_kubeconfig.read_text()
        )
        stack.slack.users.update({**PEOPLE, **DANA})
        stack.put_cluster("lab", LAB)
        metering = Meter(stack, capsys)
        monkeypatch.setattr(handlers, "BUILTIN_HANDLERS", [*handlers.BUILTIN_HANDLERS, *metering.handlers()])
        yield metering
        metering.close()


# --- the functions, as Lambda runs them ---------------------------------------------------------------------------

# Names as CloudFormation gives them (stack, logical id, 12 characters), and the template's MemorySize: both are in
# every log line, so the lines measured are as long as the deployed functions' are.
DEPLOYED = {
    "intake": ("csrgate-IntakeFunction-Q1w2E3r4T5y6", 512),
    "interactions": ("csrgate-InteractionsFunction-Q1w2E3r4T5y6", 1024),
    "worker": ("csrgate-WorkerFunction-Q1w2E3r4T5y6", 512),
    "notifier": ("csrgate-NotifierFunction-Q1w2E3r4T5y6", 512),
    "sweeper": ("csrgate-SweeperFunction-Q1w2E3r4T5y6", 512),
}


@dataclass
class Functions:
    """The functions, each cold-started once in a phase of its own, then invoked warm."""

    meter: Meter
    loaded: dict[str, Any] = field(default_factory=dict)

    def start(self, *names: str) -> None:
        for name in names:
            with self.meter.phase(f"{name}: cold start"):
                self.loaded[name] = load_function(name)

    def invoke(self, name: str, event: dict[str, Any], phase: str) -> Any:
        function_name, memory = DEPLOYED[name]
        with self.meter.phase(phase):
            return self.loaded[name].lambda_handler(event, LambdaContext(function_name, memory_limit_in_mb=memory))

    def forward(self, obj: dict[str, Any], event_type: str, phase: str) -> dict[str, Any]:
        """The forwarder's event through intake."""
        response = self.invoke("intake", hmac_event(obj, event_type=event_type), phase)
        assert response["statusCode"] == 200, response
        return dict(json.loads(response["body"]))

    def work(self, phase: str) -> list[str]:
        """Every job on the decision queue through the worker, one at a time as its event source delivers them (batch
        size 1, each deleted once done); the kinds of job done."""
        stack, done = self.meter.stack, []
        while messages := stack.queue_messages("DecisionQueue"):
            answer = self.invoke("worker", sqs_event(messages[:1], receive_count=1), phase)
            assert answer == {"batchItemFailures": []}, answer
            queue = stack.resources["DecisionQueue"]
            stack.session.client("sqs").delete_message(QueueUrl=queue, ReceiptHandle=messages[0]["ReceiptHandle"])
            done.append(json.loads(messages[0]["Body"])["kind"])
        return done


def as_seen(admin: Kubectl, name: str) -> dict[str, Any]:
    """The CSR as the API server returns it, which is what the forwarder sends."""
    return dict(json.loads(admin("get", "csr", name, "-o", "json").stdout))


def approved_not_issued(obj: dict[str, Any]) -> dict[str, Any]:
    """The CSR as a watch showed it between its approval and its certificate (the signer writes that apart)."""
    return {**obj, "status": {key: value for key, value in obj["status"].items() if key != "certificate"}}


# --- what is pinned -------------------------------------------------------------------------------------------


def spent(
    aws: str, *, rru: float, wru: int, index_wru: int = 0, sqs: int = 0, slack: str = "", lines: tuple[int, ...]
) -> dict[str, Any]:
    """A phase's figures, written as `Spend.figures` gives them: calls as "service.Operation count, ..."."""

    def counted(text: str) -> dict[str, int]:
        pairs = [part.rsplit(" ", 1) for part in text.split(", ") if part]
        return {name: int(count) for name, count in sorted(pairs)}

    return {
        "aws": counted(aws),
        "rru": rru,
        "wru": wru,
        "index_wru": index_wru,
        "sqs": sqs,
        "slack": counted(slack),
        "log_lines": lines,
    }


# What a cold start reads, per container (then again only when the five-minute caches lapse): the bot token, the
# clusters' parameters, the policies' (intake checks them all at once), and the signing secret (interactions).
COLD_STARTS = {
    "intake": spent(
        "secretsmanager.GetSecretValue 1, ssm.GetParameter 1, ssm.GetParametersByPath 1", rru=0, wru=0, lines=(0, 0, 0)
    ),
    "interactions": spent("secretsmanager.GetSecretValue 2, ssm.GetParametersByPath 1", rru=0, wru=0, lines=(0, 0, 0)),
    "worker": spent("secretsmanager.GetSecretValue 1, ssm.GetParametersByPath 1", rru=0, wru=0, lines=(0, 0, 0)),
    "notifier": spent("secretsmanager.GetSecretValue 1, ssm.GetParametersByPath 1", rru=0, wru=0, lines=(0, 0, 0)),
    "sweeper": spent("secretsmanager.GetSecretValue 1, ssm.GetParametersByPath 1", rru=0, wru=0, lines=(0, 0, 0)),
}
# The forwarder's later events for a CSR csrgate decided: nothing to change, the signature remembered (HMAC route).
LATER_EVENT = spent("dynamodb.GetItem 1, dynamodb.PutItem 1", rru=1, wru=1, lines=(0, 0, 0))


def assert_spent(meter: Meter, expected: dict[str, dict[str, Any]], log_bytes: dict[str, int]) -> None:
    """The exact figures of every phase, and its log bytes within 5% (names and timings vary their length a little)."""
    measured = {phase: spend.figures() for phase, spend in meter.phases.items()}
    assert measured == expected, "measured (update docs/cost.md with them):\n" + meter.report()
    logged = {
        phase: spend.audit_bytes + spend.metric_bytes + spend.other_bytes for phase, spend in meter.phases.items()
    }
    for phase, size in log_bytes.items():
        assert abs(logged[phase] - size) <= size * 0.05, f"{phase}: {logged[phase]} log bytes\n" + meter.report()
    print(meter.report())  # with -s: the figures docs/cost.md uses


# --- the paths ------------------------------------------------------------------------------------------------


def test_a_kubelet_serving_csr_approved_by_policy(
    meter: Meter, signing_cluster: DevCluster, admin: Kubectl, name: str
) -> None:
    functions = Functions(meter)
    functions.start("intake", "worker", "notifier")
    # GIVEN a node whose Node object lists its addresses, asking for its serving certificate as a kubelet does
    node, csr = f"node-{name[-6:]}", f"csr-{name[-5:]}"
    admin("apply", "-f", "-", stdin=node_manifest(node, [("InternalIP", "10.0.0.5"), ("Hostname", node)]))
    pem = make_csr(f"system:node:{node}", orgs=["system:nodes"], dns=[node], ips=["10.0.0.5"], key="p256")
    manifest = csr_manifest(
        csr, pem, signerName="kubernetes.io/kubelet-serving", expirationSeconds=None,
        usages=["digital signature", "key encipherment", "server auth"],
    )  # fmt: skip
    admin("apply", "-f", "-", stdin=manifest, kubeconfig=signing_cluster.node_kubeconfig(node))
    # WHEN the forwarder sends it, the worker applies the policy's approval, the digest is drawn (and redrawn, as
    # when more decisions join it), and the forwarder sends the CSR's approval (intake's answer then calls it
    # settled: its certificate is not sent) and its deletion
    added = functions.forward(as_seen(admin, csr), "ADDED", "intake: ADDED")
    assert added["state"] == "auto_approved" and "settled" not in added
    assert functions.work("worker: apply") == ["apply_decision"]
    flush = meter.stack.delayed_messages("SlackRetryQueue")
    functions.invoke("notifier", sqs_event(flush, receive_count=1), "notifier: digest posted")
    functions.invoke("notifier", sqs_event(flush, receive_count=2), "notifier: digest redrawn")
    issued = as_seen(admin, csr)
    approved = functions.forward(approved_not_issued(issued), "MODIFIED", "intake: MODIFIED (approved)")
    assert approved["settled"] is True
    admin("delete", "csr", csr)
    functions.forward(issued, "DELETED", "intake: DELETED")
    # THEN the certificate was issued and the channel has one digest telling it
    assert issued["status"].get("certificate")
    [digest] = meter.stack.slack.messages
    assert "1 certificate request approved" in digest.text
    # AND this is what it took
    assert_spent(
        meter,
        {
            "intake: cold start": COLD_STARTS["intake"],
            "worker: cold start": COLD_STARTS["worker"],
            "notifier: cold start": COLD_STARTS["notifier"],
            # the request and its first events, the digest's entry and the ask for a flush, the decision and the
            # flush queued, the signature remembered; the forwarder's key read once per container
            "intake: ADDED": spent(
                "dynamodb.GetItem 2, dynamodb.PutItem 2, dynamodb.TransactWriteItems 2, dynamodb.UpdateItem 1, "
                "secretsmanager.GetSecretValue 1, sqs.SendMessage 2",
                rru=2,
                wru=17,
                index_wru=4,
                sqs=2,
                lines=(3, 2, 0),
            ),
            # the Node read, the approval and the certificate are the cluster's calls (not counted here); the
            # cluster's credentials read once per container
            "worker: apply": spent(
                "dynamodb.GetItem 3, dynamodb.TransactWriteItems 3, secretsmanager.GetSecretValue 1",
                rru=3,
                wru=18,
                lines=(3, 1, 0),
            ),
            # the window read (whether it has entries, then whole under the lease), the lease, the ask taken back,
            # the message kept (the first time)
            "notifier: digest posted": spent(
                "dynamodb.Query 2, dynamodb.UpdateItem 4", rru=2, wru=4, slack="chat.postMessage 1", lines=(1, 0, 0)
            ),
            "notifier: digest redrawn": spent(
                "dynamodb.Query 2, dynamodb.UpdateItem 3", rru=2, wru=3, slack="chat.update 1", lines=(1, 0, 0)
            ),
            "intake: MODIFIED (approved)": LATER_EVENT,
            "intake: DELETED": LATER_EVENT,
        },
        {"intake: ADDED": 2446, "worker: apply": 2062, "notifier: digest posted": 567},
    )


def test_a_csr_a_person_reviews(meter: Meter, admin: Kubectl, name: str) -> None:
    functions = Functions(meter)
    functions.start("intake", "interactions", "worker")
    # GIVEN dana's CSR for her own user, made as the Kubernetes docs' task makes it, with her email
    csr = f"dana-{name[-6:]}"
    admin("apply", "-f", "-", stdin=docs_manifest(csr, make_csr("dana"), "dana@example.com"))
    # WHEN the forwarder sends it (the worker shows on the CSR that it waits for review), alice approves it in Slack,
    # the worker applies the decision and delivers the kubeconfig, and the forwarder sends the CSR's approval (then
    # settled: its certificate is not sent) and its deletion
    added = functions.forward(as_seen(admin, csr), "ADDED", "intake: ADDED")
    assert added["state"] == "awaiting_review"
    assert functions.work("worker: show in cluster") == ["show_in_cluster"]
    [message] = meter.stack.slack.messages
    event = interaction_event(click("U0ALICE", message, added["request_id"]))
    assert functions.invoke("interactions", event, "interactions: Approve click")["statusCode"] == 200
    assert functions.work("worker: apply, deliver") == ["apply_decision"]
    issued = as_seen(admin, csr)
    approved = functions.forward(approved_not_issued(issued), "MODIFIED", "intake: MODIFIED (approved)")
    assert approved["settled"] is True
    admin("delete", "csr", csr)
    functions.forward(issued, "DELETED", "intake: DELETED")
    # THEN dana has her kubeconfig, and the request says so
    assert [upload["channel"] for upload in meter.stack.slack.files] == ["DU0DANA"]
    assert meter.stack.request_item(added["request_id"])["state"] == "delivered"  # type: ignore[index]
    # AND this is what it took
    assert_spent(
        meter,
        {
            "intake: cold start": COLD_STARTS["intake"],
            "interactions: cold start": COLD_STARTS["interactions"],
            "worker: cold start": COLD_STARTS["worker"],
            # the request and its first events, the message posted under a lease and remembered, and the worker asked
            # to show the review on the CSR
            "intake: ADDED": spent(
                "dynamodb.GetItem 3, dynamodb.PutItem 1, dynamodb.TransactWriteItems 2, dynamodb.UpdateItem 1, "
                "secretsmanager.GetSecretValue 1, sqs.SendMessage 1",
                rru=3,
                wru=16,
                index_wru=4,
                sqs=1,
                slack="chat.postMessage 1",
                lines=(4, 3, 0),
            ),
            # an Event on the CSR (the cluster's call); the cluster's credentials read once per container
            "worker: show in cluster": spent(
                "dynamodb.GetItem 1, secretsmanager.GetSecretValue 1", rru=1, wru=0, lines=(0, 0, 0)
            ),
            # the clicker looked up, the approval and the decision recorded, the decision queued, the message redrawn
            "interactions: Approve click": spent(
                "dynamodb.GetItem 2, dynamodb.TransactWriteItems 3, sqs.SendMessage 1",
                rru=2,
                wru=18,
                index_wru=8,
                sqs=1,
                slack="chat.postEphemeral 1, chat.update 1, users.info 1",
                lines=(3, 2, 0),
            ),
            # applied, issued, delivered (the kubeconfig uploaded to dana's DM), each step redrawn on the message
            "worker: apply, deliver": spent(
                "dynamodb.GetItem 1, dynamodb.TransactWriteItems 5",
                rru=1,
                wru=28,
                index_wru=1,
                slack="chat.postMessage 1, chat.update 3, conversations.open 1, files.completeUploadExternal 1, "
                "files.getUploadURLExternal 1, users.lookupByEmail 1",
                lines=(5, 2, 0),
            ),
            "intake: MODIFIED (approved)": LATER_EVENT,
            "intake: DELETED": LATER_EVENT,
        },
        {"intake: ADDED": 3427, "interactions: Approve click": 2547, "worker: apply, deliver": 3539},
    )


def test_what_runs_whatever_the_load(meter: Meter) -> None:
    functions = Functions(meter)
    functions.start("intake", "sweeper")
    # WHEN lab's forwarder sends its heartbeat (every five minutes) and the sweeper sweeps (every ten), twice
    heartbeat = json.dumps({"cluster": "lab", "type": "HEARTBEAT"}).encode()
    for phase in ("first", "second"):
        response = functions.invoke("intake", hmac_event(body=heartbeat), f"intake: heartbeat, {phase}")
        assert response["statusCode"] == 200
        functions.invoke("sweeper", {}, f"sweeper: a sweep, {phase}")
    # THEN each costs the same every time, the first heartbeat reading the forwarder's key for the container
    sweep = spent("dynamodb.GetItem 2, dynamodb.Query 6", rru=5, wru=0, lines=(1, 1, 1))
    assert_spent(
        meter,
        {
            "intake: cold start": COLD_STARTS["intake"],
            "sweeper: cold start": COLD_STARTS["sweeper"],
            "intake: heartbeat, first": spent(
                "dynamodb.PutItem 1, dynamodb.UpdateItem 1, secretsmanager.GetSecretValue 1",
                rru=0,
                wru=2,
                lines=(1, 1, 0),
            ),
            "sweeper: a sweep, first": sweep,
            "intake: heartbeat, second": spent(
                "dynamodb.PutItem 1, dynamodb.UpdateItem 1", rru=0, wru=2, lines=(1, 1, 0)
            ),
            "sweeper: a sweep, second": sweep,
        },
        {"intake: heartbeat, second": 759, "sweeper: a sweep, second": 1265},
    )


def test_a_csr_csrgate_leaves_alone(meter: Meter, signing_cluster: DevCluster, admin: Kubectl, name: str) -> None:
    functions = Functions(meter)
    functions.start("intake")
    # GIVEN a node asking for its client certificate, which Kubernetes' own controller approves (a forwarder with no
    # signer filter sends it all the same)
    node, csr = f"node-{name[-6:]}", f"csr-{name[-5:]}"
    pem = make_csr(f"system:node:{node}", orgs=["system:nodes"], key="p256")
    manifest = csr_manifest(
        csr, pem, signerName="kubernetes.io/kube-apiserver-client-kubelet", expirationSeconds=None,
        usages=["digital signature", "client auth"],
    )  # fmt: skip
    admin("apply", "-f", "-", stdin=manifest, kubeconfig=signing_cluster.node_kubeconfig(node))
    # WHEN the forwarder sends it, its approval by the cluster (an admin's here), and its deletion
    added = functions.forward(as_seen(admin, csr), "ADDED", "intake: ADDED")
    admin("certificate", "approve", csr)
    approved = as_seen(admin, csr)
    functions.forward(approved, "MODIFIED", "intake: MODIFIED (approved)")
    admin("delete", "csr", csr)
    functions.forward(approved, "DELETED", "intake: DELETED")
    # THEN csrgate recorded it and touched nothing: no Slack, nothing queued
    assert added["state"] == "ignored"
    assert meter.stack.slack.calls == [] and meter.stack.queue_messages("DecisionQueue") == []
    # AND this is what it took: a forwarder that sends only the signers csrgate decides spares all of it
    assert_spent(
        meter,
        {
            "intake: cold start": COLD_STARTS["intake"],
            "intake: ADDED": spent(
                "dynamodb.GetItem 2, dynamodb.PutItem 1, dynamodb.TransactWriteItems 1, "
                "secretsmanager.GetSecretValue 1",
                rru=2,
                wru=9,
                lines=(2, 2, 0),
            ),
            "intake: MODIFIED (approved)": LATER_EVENT,
            "intake: DELETED": LATER_EVENT,
        },
        {"intake: ADDED": 1824},
    )
