"""`csrgate dev up`: the whole service on 127.0.0.1, from template.yaml, until SIGINT or SIGTERM."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import boto3

from devstack.aws import LocalAws, load_template, provision
from devstack.clock import DevClock
from devstack.clock import install as install_clock
from devstack.cluster import DevCluster
from devstack.cluster.auth import ADMIN_USER
from devstack.dev_eks import EKS_CLUSTER, become_functions, cluster_document, eks_cluster, people_environments, register
from devstack.forwarder_process import SupervisedForwarder, forwarder_env
from devstack.functions import LocalFunction, parameter_defaults, template_functions
from devstack.gateway import LocalGateway, template_routes
from devstack.harness import free_port
from devstack.pump import Pump, template_sources
from devstack.slack_emulator import SlackEmulator

LOG = logging.getLogger("devstack.up")
REGION = "us-east-1"
CLUSTER = "dev"
STACK_NAME = "csrgate"  # what AWS::StackName resolves to: the prefix of the dev cluster's secrets
CHANNEL = "C0DEV"
# The built-in policy, with one group that needs two approvers, to try privileged requests.
POLICY = "signers:\n  kubernetes.io/kube-apiserver-client:\n    privilegedGroups: [sre]\n"
# Two approvers and two people who may not approve; dana is the demo's requester.
USERS: dict[str, dict[str, Any]] = {
    "U0ALICE": {"name": "alice", "email": "alice@example.com", "approver": True},
    "U0BOB": {"name": "bob", "email": "bob@example.com", "approver": True},
    "U0DANA": {"name": "dana", "email": "dana@example.com", "approver": False},
    "U0ERIN": {"name": "erin", "email": "erin@example.com", "approver": False},
}
STACK_FILE = "stack.json"


class DevStack:
    """Everything `dev up` runs; start() in order, stop() in reverse, whatever was reached."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        # people renew their own certificates, as on clusters that allow it (README: Renewing)
        self.cluster = DevCluster(self.data_dir / "cluster", self_renewal=True)
        self._aws_port = free_port()
        self.eks_cluster = eks_cluster(self.data_dir / "cluster-eks", self._aws_port)  # access only, people by IAM
        self.aws_env: dict[str, dict[str, str]] = {}  # by Slack user: the environment their `aws` acts as them in
        self.moto: LocalAws | None = None
        self.slack = SlackEmulator(token="xoxb-dev-" + secrets.token_hex(8), signing_secret=secrets.token_hex(16))
        self.gateway: LocalGateway | None = None
        self.pump: Pump | None = None
        self.forwarder: SupervisedForwarder | None = None
        self.clock: DevClock | None = None
        self.functions: dict[str, LocalFunction] = {}

    def start(self) -> DevStack:
        """Start each part and write stack.json once the forwarder is ready."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / STACK_FILE).unlink(missing_ok=True)
        self.cluster.start()
        self.eks_cluster.start()
        session = self._start_aws()
        resources = provision(session)
        register(session, self.eks_cluster, REGION)
        self.aws_env = people_environments(session, USERS, os.environ["AWS_ENDPOINT_URL"], REGION)
        become_functions(session)
        self.slack.users.update({uid: {"name": str(u["name"]), "email": str(u["email"])} for uid, u in USERS.items()})
        self.slack.start()
        hmac_key = self._configure(session, resources)
        template = load_template()
        refs = {**parameter_defaults(template), "AWS::StackName": STACK_NAME, **resources}
        functions = template_functions(
            template, refs, {"CSRGATE_SLACK_API_URL": self.slack.api_url, "AWS_DEFAULT_REGION": REGION}
        )
        give_moto_time()
        self.clock = install_clock()
        for function in functions.values():
            function.load()
        self.functions = functions
        self.gateway = LocalGateway(template_routes(template), functions, dev=self._dev_request).start()
        self.slack.interactions_url = f"{self.gateway.url}/v1/slack/interactions"
        self.slack.commands_url = f"{self.gateway.url}/v1/slack/commands"
        self.slack.events_url = f"{self.gateway.url}/v1/slack/events"
        queues, schedules = template_sources(template)
        self.pump = Pump(session.client("sqs"), resources, functions, queues, schedules).start()
        self._start_forwarder(hmac_key)
        self._write_stack_file()
        return self

    def stop(self) -> None:
        """Stop everything started, the forwarder first (it drains into a gateway that still answers)."""
        if self.forwarder is not None:
            self.forwarder.stop()
            self.forwarder = None
        if self.pump is not None:
            self.pump.stop()
        if self.gateway is not None:
            self.gateway.stop()
        self.slack.stop()
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self.eks_cluster.stop()
        self.cluster.stop()

    def describe(self) -> dict[str, Any]:
        """What stack.json holds."""
        assert self.gateway is not None
        return {
            "kubeconfig": str(self.cluster.admin_kubeconfig),
            "approver_kubeconfig": str(self.cluster.approver_kubeconfig),
            "api_url": self.gateway.url,
            "interactions_url": self.slack.interactions_url,
            "commands_url": self.slack.commands_url,
            "events_url": self.slack.events_url,
            "slack_url": self.slack.base_url,
            "slack_signing_secret": self.slack.signing_secret,
            "channel": CHANNEL,
            "cluster": CLUSTER,
            "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "forwarder_log": str(self.data_dir / "forwarder.log"),
            "forwarder_pid_file": str(self.data_dir / "forwarder.pid"),
            "eks_cluster": EKS_CLUSTER,
            "eks_kubeconfig": str(self.eks_cluster.admin_kubeconfig),
            "users": {uid: {**user, "aws_env": self.aws_env.get(uid, {})} for uid, user in USERS.items()},
        }

    def _dev_request(self, path: str, body: bytes) -> tuple[int, Any]:
        """`POST /_dev/run/<function>` with `{"at": ISO time}`: run a function (the sweeper, say) once, with its clock
        at that time; nothing else's clock moves."""
        function = self.functions.get(path.removeprefix("run/")) if path.startswith("run/") else None
        if function is None or self.clock is None:
            return 404, {"error": f"no function {path!r}"}
        try:
            when = datetime.fromisoformat(json.loads(body or b"{}")["at"])
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f'expected {{"at": "<ISO time with a zone>"}}: {exc}'}
        if when.tzinfo is None:
            return 400, {"error": "the time needs a zone"}
        with self.clock.at(when):
            return 200, function.invoke({})

    def _start_aws(self) -> Any:
        port = self._aws_port
        self.moto = LocalAws(port).start()
        # the functions' boto3 clients (and ours) all reach moto through these, as they would reach AWS
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                "AWS_ACCESS_KEY_ID": "dev",
                "AWS_SECRET_ACCESS_KEY": "dev",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_METRICS_NAMESPACE": "csrgate",
            }
        )
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.pop("AWS_PROFILE", None)
        return boto3.session.Session(region_name=REGION)

    def _configure(self, session: Any, resources: dict[str, str]) -> str:
        """The Slack secrets, the dev cluster's parameter and its HMAC key and connection secrets."""
        hmac_key = secrets.token_hex(32)
        store = session.client("secretsmanager")
        store.put_secret_value(SecretId=resources["SlackBotToken"], SecretString=self.slack.token)
        store.put_secret_value(SecretId=resources["SlackSigningSecret"], SecretString=self.slack.signing_secret)
        store.create_secret(Name=f"{STACK_NAME}/forwarders/{CLUSTER}", SecretString=hmac_key)
        store.create_secret(
            Name=f"{STACK_NAME}/clusters/{CLUSTER}/kubeconfig",
            SecretString=self.cluster.approver_kubeconfig.read_text(),
        )
        document = {
            "name": CLUSTER,
            "kind": "generic",
            "auth": "hmac",
            "hmacSecretId": f"{STACK_NAME}/forwarders/{CLUSTER}",
            "connection": {"secretId": f"{STACK_NAME}/clusters/{CLUSTER}/kubeconfig"},
            "slackChannel": CHANNEL,
            "approvers": {"users": [uid for uid, user in USERS.items() if user["approver"]]},
            "policy": CLUSTER,
            # dana runs kubectl with the admin kubeconfig, and the docs' user myuser is hers: csrgate ties what she
            # applies to her, delivers it to her, and needs one approval when she asks for her own user.
            "requesterEmails": {ADMIN_USER: "dana@example.com", "myuser": "dana@example.com"},
            # people ask in Slack for their own user: dana's certificate names `dana`
            "selfService": {"usernameTemplate": "{email_local}", "emailDomains": ["example.com"]},
            # and for time-boxed access to that same user: csrgate's worker may bind view and edit, nothing else, so
            # the cluster-admin offered here by mistake is refused by the cluster when approved
            "access": {
                "usernameTemplate": "{email_local}",
                "emailDomains": ["example.com"],
                "namespaces": ["payments", "team-*"],
                "durations": ["1m", "15m", "1h", "8h"],  # a minute, so that an end on time can be watched
                "roles": [
                    {"name": "view", "clusterRole": "view"},
                    {"name": "edit", "clusterRole": "edit"},
                    {"name": "cluster-admin", "clusterRole": "cluster-admin", "scope": "cluster", "maxDuration": "1h"},
                ],
            },
        }
        ssm = session.client("ssm")
        ssm.put_parameter(Name=f"/csrgate/clusters/{CLUSTER}", Value=json.dumps(document), Type="String")
        ssm.put_parameter(Name=f"/csrgate/policies/{CLUSTER}", Value=POLICY, Type="String")
        approvers = [uid for uid, user in USERS.items() if user["approver"]]
        eks = cluster_document(CHANNEL, approvers, STACK_NAME, REGION)
        ssm.put_parameter(Name=f"/csrgate/clusters/{EKS_CLUSTER}", Value=json.dumps(eks), Type="String")
        return hmac_key

    def _start_forwarder(self, hmac_key: str, ready_within: float = 30.0) -> None:
        assert self.gateway is not None
        key_file = self.data_dir / "hmac-key"
        key_file.write_text(hmac_key)
        key_file.chmod(0o600)
        env = forwarder_env(
            self.cluster.approver_kubeconfig, self.gateway.url, key_file, CLUSTER, CSRGATE_DRAIN_SECONDS="5"
        )
        self.forwarder = SupervisedForwarder(
            env, self.data_dir / "forwarder.log", self.data_dir / "forwarder.pid"
        ).start(ready_within)

    def _write_stack_file(self) -> None:
        # written to a temporary name and renamed, so whoever waits for it never reads half a file
        path = self.data_dir / STACK_FILE
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.describe(), indent=2) + "\n")
        partial.replace(path)


def give_moto_time() -> None:
    """The interactions function gives each AWS call 0.8 s, inside Slack's three seconds, where DynamoDB answers in
    milliseconds. moto copies the whole table for every transaction, which takes longer as the dev stack's table grows
    (every request's audit events are in it): here the functions wait for it rather than time out."""
    from botocore.config import Config

    import csrgate.wiring.kit as kit

    kit.HURRIED_AWS = kit.HURRIED_AWS.merge(Config(read_timeout=10, retries={"max_attempts": 0}))


def run_dev_stack(data_dir: Path, out: IO[str]) -> int:
    """Run in the foreground until SIGINT or SIGTERM; print where things are once ready."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("werkzeug", "botocore", "urllib3"):  # every request they make would be a line
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = DevStack(data_dir)
    try:
        stack.start()
        described = stack.describe()
        out.write(
            "csrgate dev stack: ready\n"
            f"  Slack page:   {described['slack_url']}\n"
            f"  API:          {described['api_url']}\n"
            f"  cluster:      KUBECONFIG={described['kubeconfig']}\n"
            f"  details:      {stack.data_dir / STACK_FILE}\n"
            "stop with Ctrl-C\n"
        )
        out.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
