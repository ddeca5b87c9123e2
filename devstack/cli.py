"""`csrgate dev ...`: the local stand-ins as commands of `csrgate`, added by the development install only."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import IO, Any


def add_commands(commands: Any) -> None:
    """Add `csrgate dev cluster` and `csrgate dev up` (registered as a `csrgate.commands` entry point)."""
    dev = commands.add_parser("dev", help="local stand-ins for development and tests")
    stand_ins = dev.add_subparsers(required=True, metavar="STAND-IN")
    cluster = stand_ins.add_parser(
        "cluster",
        help="run a local Kubernetes API for CertificateSigningRequests",
        description="Serve the certificates.k8s.io API on https://127.0.0.1:PORT with its own CA, a signer for "
        "kubernetes.io/kube-apiserver-client, and admin.kubeconfig, approver.kubeconfig and ca.crt in DIR. "
        "Runs until SIGINT or SIGTERM; state in DIR survives restarts.",
    )
    cluster.add_argument("--data-dir", metavar="DIR", type=Path, required=True, help="where state and kubeconfigs go")
    cluster.add_argument("--port", metavar="PORT", type=_port, default=6443, help="port on 127.0.0.1 (0: any free)")
    cluster.add_argument(
        "--signing-delay",
        metavar="SECONDS",
        type=float,
        default=0.0,
        help="wait this long after approval before signing (to try slow signers)",
    )
    cluster.set_defaults(run=_dev_cluster)
    up = stand_ins.add_parser(
        "up",
        help="run the whole service locally: cluster, AWS, API, functions, forwarder and Slack",
        description="Start the dev cluster, moto with what template.yaml declares, a local API Gateway calling the "
        "functions, their queue consumers and schedule, the forwarder and a Slack stand-in, all on 127.0.0.1; "
        "write DIR/stack.json once ready. Runs until SIGINT or SIGTERM.",
    )
    up.add_argument("--data-dir", metavar="DIR", type=Path, required=True, help="where state and stack.json go")
    up.set_defaults(run=_dev_up)


def _dev_cluster(args: argparse.Namespace, out: IO[str]) -> int:
    from devstack.cluster import run_dev_cluster  # imported when run: `csrgate check` should not pay for it

    return run_dev_cluster(args.data_dir, args.port, out, signing_delay=args.signing_delay)


def _dev_up(args: argparse.Namespace, out: IO[str]) -> int:
    from devstack.up import run_dev_stack

    return run_dev_stack(args.data_dir, out)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port
