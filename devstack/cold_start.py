"""Cold starts in fresh interpreters: a function's app.py imported (clients built, configuration and secrets read)
and one event handled, against the lab on loopback (moto's server, the Slack stand-in, optionally the dev cluster).

bench/cold_start.py measures with it; the click path's import test pins what a click imports with it. The
fresh interpreter imports nothing of devstack, tests or moto: what it holds is what the function brought in.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from devstack.harness import ROOT, free_port
from devstack.lab import CLUSTERS, PEOPLE, provision_lab
from devstack.slack import SlackStandIn, running_slack

REGION = "eu-west-1"
# alice approves alone. dana asks for her own user (CN dana) with kubectl as the dev cluster's admin, and the docs'
# CSR asks for angela as angela: csrgate ties each to one person, so one approval decides
DANA = {"U0DANA": {"name": "dana", "email": "dana@example.com"}}
LAB = {
    **CLUSTERS["lab"],
    "approvers": {"users": ["U0ALICE"]},
    "requesterEmails": {
        **CLUSTERS["lab"]["requesterEmails"],
        "csrgate-admin": "dana@example.com",
        "dana": "dana@example.com",
    },
}
MARK = "COLD-START "
# What runs in the fresh interpreter. argv: the function's app.py and a mode; stdin: the event.
#   timed       import and build, then the first call, as plain as a Lambda container runs them
#   modules     also every module the interpreter holds after the call
#   breakdown   also AWS client creation, AWS calls and Slack calls, timed by wrapping botocore and slack_sdk (which
#               are then imported first, so this mode's own totals are not comparable)
# Its own LambdaContext: devstack.harness's would import the Kubernetes client and YAML into the interpreter.
CHILD = """
import json, sys, time
app_path, mode = sys.argv[1], sys.argv[2]
spans = {"clients": [], "aws": [], "slack": []}
if mode == "breakdown":
    import botocore.client, botocore.session, slack_sdk.web.base_client
    def timed(owner, name, kind, label):
        original = getattr(owner, name)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spans[kind].append((label(*args), time.perf_counter() - start))
        setattr(owner, name, wrapper)
    # each called with its first argument positional: boto3's Session.client, a client's methods, WebClient's
    timed(botocore.session.Session, "create_client", "clients", lambda session, service, *_: service)
    aws_call = lambda client, operation, *_: f"{client.meta.service_model.service_name}.{operation}"
    timed(botocore.client.BaseClient, "_make_api_call", "aws", aws_call)
    timed(slack_sdk.web.base_client.BaseClient, "api_call", "slack", lambda client, method, *_: method)
started, started_cpu = time.perf_counter(), time.process_time()
import importlib.util
spec = importlib.util.spec_from_file_location("app", app_path)
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
built, built_cpu = time.perf_counter(), time.process_time()
class Context:
    function_name, memory_limit_in_mb, aws_request_id = "csrgate-cold", 1024, "cold-start"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:csrgate-cold"
    def get_remaining_time_in_millis(self):
        return 15000
event, context = json.loads(sys.stdin.read()), Context()
called, called_cpu = time.perf_counter(), time.process_time()
response = app.lambda_handler(event, context)
done, done_cpu = time.perf_counter(), time.process_time()
result = {"import": built - started, "first_call": done - called, "response": response, "spans": spans}
# this process's own CPU time: not the stand-ins' (moto, Slack, the dev cluster), nor waiting for a shared core
result |= {"import_cpu": built_cpu - started_cpu, "first_call_cpu": done_cpu - called_cpu}
if mode == "modules":
    result["modules"] = sorted(sys.modules)
print("MARK" + json.dumps(result))
""".replace("MARK", MARK)


@dataclass
class ColdLab:
    """The lab on loopback, and the environment a fresh interpreter needs to reach it."""

    env: dict[str, str]
    session: Any
    resources: dict[str, str]
    slack: SlackStandIn


@contextmanager
def cold_lab(setenv: Callable[[str, str], None], kubeconfig: str | None = None) -> Iterator[ColdLab]:
    """moto's server and the Slack stand-in, provisioned with cluster `lab` alone (alice approves, dana asks);
    `kubeconfig` is how the worker reaches the lab cluster. `setenv` puts the functions' environment in place for
    this process too (intake and interactions run here to prepare what a fresh interpreter handles)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "csrgate",
    }
    for name, value in env.items():
        setenv(name, value)
    try:
        with running_slack() as slack:
            session = boto3.session.Session(region_name=REGION)
            resources, lab_env = provision_lab(session, slack, clusters={"lab": LAB}, policies={})
            if kubeconfig is not None:
                secrets = session.client("secretsmanager")
                secrets.create_secret(Name="csrgate/clusters/lab/kubeconfig", SecretString=kubeconfig)
            slack.users.update({**PEOPLE, **DANA})
            for name, value in lab_env.items():
                setenv(name, value)
            yield ColdLab({**env, **lab_env}, session, resources, slack)
    finally:
        server.stop()


def run_cold(
    function: str, event: dict[str, Any], env: dict[str, str], mode: str = "timed", importtime: bool = False
) -> dict[str, Any]:
    """One fresh interpreter: import functions/<function>/app.py, hand it `event`; what CHILD reports, and with
    `importtime` Python's -X importtime lines as `importtime`."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", CHILD]
    command += [str(ROOT / "functions" / function / "app.py"), mode]
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "CSRGATE_"))}
    result = subprocess.run(
        command, env={**environment, **env}, input=json.dumps(event), capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        output = result.stdout[-2000:] + result.stderr[-4000:]
        raise RuntimeError(f"the {function} function's cold start failed:\n{output}")
    answer: dict[str, Any] = json.loads(lines[-1][len(MARK) :])
    if importtime:
        answer["importtime"] = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return answer
