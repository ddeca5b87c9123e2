"""Create what template.yaml declares (tables, queues, secrets) in a local AWS (moto), from the template itself; and
the local STS's answer to a presigned GetCallerIdentity request, its signature checked (sts_caller_identity)."""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub ...) as {"Ref": ...}-style mappings."""


def _tag(loader: _CloudFormationLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data."""
    return dict(yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader))  # noqa: S506 - a SafeLoader


def provision(session: Any, path: Path = TEMPLATE) -> dict[str, str]:
    """Create the template's DynamoDB tables, SQS queues and Secrets Manager secrets; map logical id to name/URL."""
    resources = load_template(path)["Resources"]
    created: dict[str, str] = {}
    arns: dict[str, str] = {}
    sqs = session.client("sqs")
    # dead-letter queues first: the queues that use them need their ARNs
    queues = sorted(
        (name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"),
        key=lambda name: "RedrivePolicy" in resources[name].get("Properties", {}),
    )
    for name in queues:
        properties = resources[name].get("Properties", {})
        attributes = {
            key: str(properties[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod") if key in properties
        }
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            target = policy["deadLetterTargetArn"]["Fn::GetAtt"][0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target], "maxReceiveCount": policy["maxReceiveCount"]}
            )
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arns[name] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        created[name] = url
    dynamodb = session.client("dynamodb")
    for name, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        properties = resource["Properties"]
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
            **(
                {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
                if "GlobalSecondaryIndexes" in properties
                else {}
            ),
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        created[name] = name
    secrets = session.client("secretsmanager")
    for name, resource in resources.items():
        if resource["Type"] == "AWS::SecretsManager::Secret":
            created[name] = secrets.create_secret(Name=name, SecretString="{}")["ARN"]
    return created


def _is_dynamodb(target: str | bytes) -> bool:
    return (target.decode() if isinstance(target, bytes) else target).startswith("DynamoDB_")


def serialized_dynamodb(app: Any) -> Any:
    """A WSGI app that serves moto's DynamoDB calls one at a time. moto's transactions copy every table and, when a
    condition fails, put the copy back: a write another thread made meanwhile is lost (or seen half made), which
    DynamoDB never does; the copy itself fails ("dictionary changed size during iteration") when another thread
    writes while it is made. Other services (SQS long polls) stay concurrent."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if not _is_dynamodb(environ.get("HTTP_X_AMZ_TARGET", "")):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole answer made inside the lock

    return serve


@contextmanager
def dynamodb_served_one_at_a_time() -> Iterator[None]:
    """moto's in-process mock (mock_aws) serving its DynamoDB calls one at a time, as serialized_dynamodb does for
    its server, for threads that stand for Lambda invocations running at once."""
    from moto.core.botocore_stubber import BotocoreStubber

    unserialized = BotocoreStubber.process_request
    lock = threading.Lock()

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        if not _is_dynamodb(request.headers.get("X-Amz-Target", "")):
            return unserialized(self, request)
        with lock:
            return unserialized(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = unserialized  # type: ignore[method-assign]


class LocalAws:
    """moto's server on 127.0.0.1, its DynamoDB calls serialized (serialized_dynamodb)."""

    def __init__(self, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = serialized_dynamodb(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", port, app, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LocalAws:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._thread.join()


def sts_caller_identity(url: str, headers: Mapping[str, str]) -> str | None:
    """What STS answers a presigned GetCallerIdentity GET of `url` sent with `headers`: the caller's ARN, or None where
    STS refuses the request. moto answers any request without checking its signature, so this checks it as STS does:
    the SigV4 query signature (over GET, the path, the query but X-Amz-Signature, and the signed headers, `host` taken
    from the URL and the others from `headers`) made with the secret of the access key X-Amz-Credential names, that key
    issued by the local AWS to an IAM user (active, no session token) or by AssumeRole (with the session token issued
    with it, not expired). The ARN is the one moto's GetCallerIdentity answers for that key. How old X-Amz-Date may be
    is left to the caller (the dev cluster checks it with its own clock)."""
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    query = dict(pairs)
    if len(query) != len(pairs) or query.get("Action") != "GetCallerIdentity" or query.get("Version") != "2011-06-15":
        return None
    try:
        key_id, day, region, service, terminal = query["X-Amz-Credential"].split("/")
        timestamp, signed, signature = query["X-Amz-Date"], query["X-Amz-SignedHeaders"], query["X-Amz-Signature"]
    except (KeyError, ValueError):
        return None
    if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or (service, terminal) != ("sts", "aws4_request"):
        return None
    if len(timestamp) != 16 or timestamp[:8] != day:
        return None
    issued = _issued_credentials(key_id)
    if issued is None:
        return None
    secret, session_token, arn = issued
    if not _same(query.get("X-Amz-Security-Token", ""), session_token or ""):
        return None
    sent = {name.lower(): value for name, value in headers.items()}
    names = signed.split(";")
    if any(name != "host" and name not in sent for name in names):
        return None
    # botocore's own signer computes the signature the request should carry (SigV4QueryAuth signs the same way,
    # with the query parameters taken from `params` and the payload an empty body)
    request = AWSRequest(
        method="GET",
        url=urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        headers={name: sent[name] for name in names if name != "host"},
        params=[(key, value) for key, value in pairs if key != "X-Amz-Signature"],
    )
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(key_id, secret, session_token), "sts", region)
    if signer.signed_headers(signer.headers_to_sign(request)) != signed:
        return None
    canonical_request = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical_request), request)
    return arn if _same(signature, expected) else None


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", errors="replace"), expected.encode("utf-8"))


def _issued_credentials(access_key_id: str) -> tuple[str, str | None, str] | None:
    """The secret key, session token and caller ARN of an access key the local AWS issued and still honours: an
    assumed role's (moto's STS backends) or an IAM user's (moto's IAM backends), in any account."""
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            for role in list(backend.assumed_roles):
                if role.access_key_id == access_key_id:
                    alive = role.expiration > utcnow()
                    return (role.secret_access_key, role.session_token, role.arn) if alive else None
    for iam_account in list(iam_backends.values()):
        for iam in list(iam_account.values()):
            for user in list(iam.users.values()):
                for key in list(user.get_all_access_keys()):
                    if key.access_key_id == access_key_id:
                        return (key.secret_access_key, None, user.arn) if key.status == "Active" else None
    return None
