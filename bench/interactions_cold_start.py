"""The interactions function's cold path, against a bare `import boto3` measured in the same run.

Slack gives an interaction three seconds, cold starts included. Each sample is a fresh interpreter that imports
functions/interactions/app.py (which builds its clients and reads its configuration) and handles one click; the
baseline is a fresh interpreter that only imports boto3. AWS is moto's server and Slack the stand-in, both on
loopback, so network time is small and the numbers are mostly Python's.

    .venv/bin/python bench/interactions_cold_start.py [--samples N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys

import boto3
from moto.server import ThreadedMotoServer

from csrgate.domain.records import request_id_for
from devstack.harness import ROOT, LambdaContext, free_port, load_function
from devstack.lab import CLUSTERS, PEOPLE, provision_lab
from devstack.lambda_events import DOCS_REQUEST, click, hmac_event, interaction_event
from devstack.slack import SlackStandIn, running_slack

CHILD = """
import json, sys, time
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
imported = time.perf_counter()
from devstack.harness import LambdaContext
event, context = json.loads(sys.stdin.read()), LambdaContext()
called = time.perf_counter()
response = app.lambda_handler(event, context)
done = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import": imported - started, "first_call": done - called}))
"""
BASELINE = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "CSRGATE_CONFIG_PATH": "/csrgate",
        "CSRGATE_SLACK_RETRY_DELAY_SECONDS": "0",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    try:
        with running_slack() as slack:
            child_env = prepare(slack, env)
            samples = [cold_click(child_env, slack) for _ in range(args.samples)]
            baseline = [float(run([sys.executable, "-c", BASELINE], child_env)) for _ in range(args.samples)]
    finally:
        server.stop()
    report(samples, baseline)


def prepare(slack: SlackStandIn, env: dict[str, str]) -> dict[str, str]:
    """Provision the lab with cluster `lab` alone, and post the docs' CSR through intake."""
    session = boto3.session.Session(region_name="eu-west-1")
    lab = {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}}
    _, lab_env = provision_lab(session, slack, clusters={"lab": lab}, policies={})
    slack.users.update(PEOPLE)
    child_env = {**os.environ, **env, **lab_env}
    os.environ.update(child_env)
    load_function("intake").lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
    return child_env


def cold_click(env: dict[str, str], slack: SlackStandIn) -> dict[str, float]:
    """One fresh interpreter: import the function, then handle a click that is refused (nothing changes)."""
    message = slack.messages[0]
    # not an approver: refused, so every sample does the same work
    event = interaction_event(click("U0MALLORY", message, request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])))
    app = str(ROOT / "functions" / "interactions" / "app.py")
    return json.loads(run([sys.executable, "-c", CHILD, app], env, json.dumps(event)))


def run(command: list[str], env: dict[str, str], stdin: str = "") -> str:
    result = subprocess.run(command, env=env, input=stdin, capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def report(samples: list[dict[str, float]], baseline: list[float]) -> None:
    imports = statistics.median(s["import"] for s in samples)
    first = statistics.median(s["first_call"] for s in samples)
    total = statistics.median(s["import"] + s["first_call"] for s in samples)
    boto = statistics.median(baseline)
    print(f"python {sys.version.split()[0]}, {len(samples)} fresh interpreters each, medians\n")
    print(f"{'what':<44} {'ms':>8} {'x import boto3':>15}")
    for name, value in [
        ("import boto3 (baseline)", boto),
        ("interactions: import and build", imports),
        ("interactions: first click (4 API calls)", first),
        ("interactions: cold path in all", total),
    ]:
        print(f"{name:<44} {value * 1000:>8.0f} {value / boto:>15.2f}")


if __name__ == "__main__":
    main()
