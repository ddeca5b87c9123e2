"""Create what template.yaml declares (tables, queues, secrets) in a local AWS (moto), from the template itself."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import yaml

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


def serialized_dynamodb(app: Any) -> Any:
    """A WSGI app that serves moto's DynamoDB calls one at a time. moto's transactions copy every table and, when a
    condition fails, put the copy back: a write another thread made meanwhile is lost (or seen half made), which
    DynamoDB never does. Other services (SQS long polls) stay concurrent."""
    lock = threading.Lock()

    def serve(environ: dict[str, Any], start_response: Any) -> Any:
        if not str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))  # the whole answer made inside the lock

    return serve


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
