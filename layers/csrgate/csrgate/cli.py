"""The `csrgate` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from csrgate.domain.cluster import DEFAULT_SECRET_PREFIX, ClusterConfigError, ClusterKind, cluster_schema, read_cluster
from csrgate.domain.errors import CsrgateError, PolicyError
from csrgate.domain.outcome import Outcome
from csrgate.domain.policy import Policy, default_policy, load_policy
from csrgate.domain.request import MAX_INPUT_BYTES, SigningRequest, read_signing_request
from csrgate.domain.summary import describe_lifetime, summarize
from csrgate.domain.text import shown
from csrgate.domain.verdict import Verdict, evaluate

DEFAULT_SIGNER = "kubernetes.io/kube-apiserver-client"
COMMANDS_GROUP = "csrgate.commands"  # entry points: callables given the subparsers to add commands to
EXIT_OK, EXIT_DENIED, EXIT_UNUSABLE = 0, 1, 2


class UsageError(CsrgateError):
    """A command line or file the command cannot use."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except (CsrgateError, OSError) as exc:
        print(f"csrgate: error: {_error_text(exc)}", file=sys.stderr)
        return EXIT_UNUSABLE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a bug must not print a traceback at users
        bug = f"unexpected {type(exc).__name__}; this is a bug in csrgate, please report it with the command and input"
        print(f"csrgate: error: {bug}", file=sys.stderr)
        return EXIT_UNUSABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="csrgate", description="Approve Kubernetes CSRs from Slack.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    check = commands.add_parser(
        "check",
        help="check a CSR against the policy",
        description="Decode a CSR, verify it and print the policy verdict. Exit status: 0 approve, review or "
        "ignore; 1 deny; 2 input that cannot be used.",
    )
    check.add_argument(
        "input", metavar="INPUT", help="a PEM CSR, its base64, or a CSR manifest (YAML/JSON); - is stdin"
    )
    check.add_argument("--policy", metavar="FILE", type=Path, help="policy file merged over the built-in defaults")
    check.add_argument("--signer", metavar="NAME", help=f"signerName (default: the manifest's, else {DEFAULT_SIGNER})")
    check.add_argument("--usage", metavar="U", action="append", help="a key usage; repeat for several")
    check.add_argument("--expiration-seconds", metavar="N", type=_seconds, help="requested lifetime in seconds")
    check.add_argument("--username", metavar="U", help="the requesting identity (spec.username)")
    check.add_argument("--group", metavar="G", action="append", help="a group of the requester; repeatable")
    check.add_argument(
        "--cluster-kind", choices=[kind.value for kind in ClusterKind], default=ClusterKind.GENERIC.value
    )
    check.add_argument("--output", choices=["text", "json"], default="text")
    check.set_defaults(run=_check)
    config = commands.add_parser(
        "config",
        help="check a cluster's settings before you store them, or print a JSON Schema for editors",
        description="Check a cluster's settings as csrgate reads them from SSM, or print the JSON Schema of a cluster "
        "document or a policy file.",
    )
    actions = config.add_subparsers(required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="check a cluster document",
        description="Check a cluster document (YAML or JSON) as csrgate reads it at cold start. Exit status: 0 "
        "valid; 1 invalid (the message names the key); 2 a file that cannot be read.",
    )
    validate.add_argument("file", metavar="FILE", type=Path, help="the cluster's settings")
    validate.add_argument(
        "--secret-prefix",
        metavar="PREFIX",
        default=DEFAULT_SECRET_PREFIX,
        help=f"the stack's secret prefix (its SecretPrefix output; default {DEFAULT_SECRET_PREFIX})",
    )
    validate.add_argument("--policy", metavar="FILE", type=Path, help="also check the policy the cluster names")
    validate.set_defaults(run=_config_validate)
    schema = actions.add_parser("schema", help="print a JSON Schema", description="Print a JSON Schema for editors.")
    schema.add_argument("kind", choices=["cluster", "policy"], help="of a cluster document or of a policy file")
    schema.set_defaults(run=_config_schema)
    forward = commands.add_parser(
        "forward",
        help="run the in-cluster forwarder",
        description="List and watch CertificateSigningRequests and send every change to csrgate's API, at least "
        "once. Configured with CSRGATE_* environment variables (docs/forwarder.md); a bad one exits 2 naming it. "
        "Runs until SIGTERM or SIGINT, then sends what is queued for up to CSRGATE_DRAIN_SECONDS.",
    )
    forward.set_defaults(run=_forward)
    # Commands other distributions add (the development install adds `csrgate dev`); the Lambda layer has none.
    # One per name: an editable install is found twice when its source tree is also on sys.path (`python -m ...`
    # from the repository: its egg-info there, and the installed metadata).
    for plugin in {plugin.name: plugin for plugin in entry_points(group=COMMANDS_GROUP)}.values():
        plugin.load()(commands)
    return parser


def _forward(args: argparse.Namespace, out: IO[str]) -> int:
    # Imported here: `csrgate check` should not pay for the Kubernetes client and prometheus_client.
    from csrgate.forwarder.main import main as run_forwarder

    return run_forwarder()


def _config_validate(args: argparse.Namespace, out: IO[str]) -> int:
    try:
        cluster = read_cluster(_read_text(args.file), str(args.file), args.secret_prefix)
        if args.policy is not None:
            load_policy(_read_text(args.policy), str(args.policy))
    except (ClusterConfigError, PolicyError) as exc:
        print(f"csrgate: invalid: {exc}", file=sys.stderr)
        return EXIT_DENIED
    service = cluster.self_service
    asks = f"; people ask in Slack as {service.username_template}" if service else ""
    policy = f"policy {cluster.policy}" if cluster.policy else "the built-in policy"
    out.write(
        f"{args.file}: cluster {cluster.name} ({cluster.kind.value}, {cluster.auth}) is valid, with {policy}{asks}\n"
    )
    return EXIT_OK


def _config_schema(args: argparse.Namespace, out: IO[str]) -> int:
    schema = cluster_schema() if args.kind == "cluster" else Policy.model_json_schema(by_alias=True)
    json.dump(schema, out, indent=2)
    out.write("\n")
    return EXIT_OK


def _check(args: argparse.Namespace, out: IO[str]) -> int:
    policy = _load_policy(args.policy)
    request = read_signing_request(_read_input(args.input), _source_name(args.input))
    request = request.with_overrides(
        signer_name=args.signer,
        usages=tuple(args.usage) if args.usage else None,
        expiration_seconds=args.expiration_seconds,
        username=args.username,
        groups=tuple(args.group) if args.group else None,
    )
    assumed_signer = request.signer_name is None
    if assumed_signer:
        request = request.with_overrides(signer_name=DEFAULT_SIGNER)
    verdict = evaluate(request, policy, ClusterKind(args.cluster_kind))
    if args.output == "json":
        json.dump(_json_report(request, verdict), out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        out.write(_text_report(request, verdict, assumed_signer))
    return EXIT_DENIED if verdict.outcome is Outcome.DENY else EXIT_OK


def _load_policy(path: Path | None) -> Policy:
    if path is None:
        return default_policy()
    return load_policy(_read_text(path), str(path))


def _read_input(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    with open(name, "rb") as stream:
        return stream.read(MAX_INPUT_BYTES + 1)


def _read_text(path: Path) -> str:
    with open(path, "rb") as stream:
        data = stream.read(MAX_INPUT_BYTES + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text") from exc


def _source_name(name: str) -> str:
    return "standard input" if name == "-" else name


def _seconds(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None


def _json_report(request: SigningRequest, verdict: Verdict) -> dict[str, Any]:
    return {
        "verdict": verdict.outcome.value,
        "findings": [finding.as_dict() for finding in verdict.findings],
        "request": summarize(request).as_dict(),
    }


def _text_report(request: SigningRequest, verdict: Verdict, assumed_signer: bool) -> str:
    signer = _shown(request.signer_name) + (
        " (assumed: the input names no signer; use --signer)" if assumed_signer else ""
    )
    lines = [
        f"name:          {_shown(request.name)}",
        f"signer:        {signer}",
        f"requested by:  {_shown(request.username)}" + (f" (groups {_list(request.groups)})" if request.groups else ""),
        f"usages:        {_list(request.usages)}",
        f"lifetime:      {describe_lifetime(request.expiration_seconds)}",
    ]
    if request.csr is None:
        lines.append(f"CSR:           cannot be decoded: {shown(request.malformed or '')}")
    else:
        csr = request.csr
        lines += [
            f"user (CN):     {_list(csr.subject.common_names)}",
            f"groups (O):    {_list(csr.subject.organizations)}",
        ]
        if csr.subject.other:
            lines.append(f"other subject: {_list(f'{name}={value}' for name, value in csr.subject.other)}")
        kinds = {
            "DNS": csr.sans.dns,
            "IP": csr.sans.ip,
            "EMAIL": csr.sans.email,
            "URI": csr.sans.uri,
            "OTHER": csr.sans.other,
        }
        sans = [f"{kind}:{name}" for kind, names in kinds.items() for name in names]
        lines += [
            f"SANs:          {_list(sans)}",
            f"public key:    {csr.public_key.describe()}",
            f"signature:     {csr.signature_algorithm}, {'valid' if csr.signature_valid else 'INVALID'}",
            f"extensions:    {_list(csr.extensions)}",
        ]
    lines.append(f"verdict:       {verdict.outcome.value}")
    lines += [
        f"  {finding.severity.value:<8} {finding.code.value}: {shown(finding.message)}" for finding in verdict.findings
    ]
    return "\n".join(lines) + "\n"


def _shown(value: str | None) -> str:
    return "(not given)" if value is None else shown(value)


def _list(values: Any) -> str:
    items = [shown(str(value)) for value in values]
    return ", ".join(items) if items else "none"


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return shown(f"{exc.filename}: {exc.strerror or exc}")
    return shown(str(exc))


if __name__ == "__main__":
    sys.exit(main())
