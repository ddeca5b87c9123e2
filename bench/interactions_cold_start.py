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
import socket
import statistics
import subprocess
import sys
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "unit"), str(ROOT / "tests")]

from lambda_events import click, hmac_event, interaction_event  # noqa: E402
from stack import CLUSTERS, HMAC_KEY, LambdaContext, load_function  # noqa: E402 - test fixtures shared with the benchmark
from test_intake_function import DOCS_REQUEST  # noqa: E402
from test_interactions_function import PEOPLE  # noqa: E402

from csrgate.domain.records import request_id_for  # noqa: E402
from devstack.aws import provision  # noqa: E402
from devstack.slack import running_slack  # noqa: E402

CHILD = """
import json, sys, time
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)
imported = time.perf_counter()
sys.path.insert(0, sys.argv[2])
from stack import LambdaContext
response = app.lambda_handler(json.loads(sys.stdin.read()), LambdaContext())
done = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import": imported - started, "first_call": done - imported}))
"""
BASELINE = "import time; t = time.perf_counter(); import boto3; print(time.perf_counter() - t)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def prepare(slack: object, env: dict[str, str]) -> dict[str, str]:
    """Provision the template's resources, configure cluster `lab`, and post the docs' CSR through intake."""
    session = boto3.session.Session(region_name="eu-west-1")
    resources = provision(session)
    secrets = session.client("secretsmanager")
    secrets.put_secret_value(SecretId=resources["SlackBotToken"], SecretString=slack.token)  # type: ignore[attr-defined]
    secrets.put_secret_value(SecretId=resources["SlackSigningSecret"], SecretString="s")
    secrets.create_secret(Name="csrgate/forwarders/lab", SecretString=HMAC_KEY)
    lab = {**CLUSTERS["lab"], "approvers": {"users": ["U0ALICE"]}}
    session.client("ssm").put_parameter(Name="/csrgate/clusters/lab", Value=json.dumps(lab), Type="String")
    slack.users.update(PEOPLE)  # type: ignore[attr-defined]
    child_env = {
        **os.environ,
        **env,
        "CSRGATE_TABLE": resources["RequestTable"],
        "CSRGATE_DECISION_QUEUE_URL": resources["DecisionQueue"],
        "CSRGATE_SLACK_RETRY_QUEUE_URL": resources["SlackRetryQueue"],
        "CSRGATE_SLACK_BOT_TOKEN_SECRET_ID": resources["SlackBotToken"],
        "CSRGATE_SLACK_SIGNING_SECRET_ID": resources["SlackSigningSecret"],
        "CSRGATE_STACK_NAME": "csrgate",
        "CSRGATE_SLACK_API_URL": slack.api_url,  # type: ignore[attr-defined]
    }
    os.environ.update(child_env)
    load_function("intake").lambda_handler(hmac_event(DOCS_REQUEST), LambdaContext())
    return child_env


def cold_click(env: dict[str, str], slack: object) -> dict[str, float]:
    """One fresh interpreter: import the function, then handle a click that is refused (nothing changes)."""
    message = slack.messages[0]  # type: ignore[attr-defined]
    # not an approver: refused, so every sample does the same work
    event = interaction_event(click("U0MALLORY", message, request_id_for("lab", DOCS_REQUEST["metadata"]["uid"])))
    app = str(ROOT / "functions" / "interactions" / "app.py")
    return json.loads(run([sys.executable, "-c", CHILD, app, str(ROOT / "tests")], env, json.dumps(event)))


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
