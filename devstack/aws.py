"""Create what template.yaml declares (tables, queues, secrets) in a local AWS (moto), from the template itself."""

from __future__ import annotations

import json
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
