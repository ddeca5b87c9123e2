"""What a deployment's answers make of the stack, read from template.yaml as CloudFormation would resolve it: a
customer-managed key encrypts everything csrgate keeps, subnets put the worker (and only it) in a VPC, every function
is bounded, every alarm reaches the topic the alarm e-mail is subscribed to, and no role may write traces nobody
records. README's first deploy lists every question the template adds to `sam deploy --guided`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.aws import load_template
from devstack.template import conditions_for, deployed_resources, evaluated, parameter_values

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template()
KEY = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VPC = {"WorkerSubnetIds": "subnet-0a1b2c,subnet-3d4e5f", "WorkerSecurityGroupIds": "sg-0123"}
FUNCTIONS = sorted(name for name, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::Serverless::Function")


def stack(**answers: str) -> dict[str, dict[str, Any]]:
    """The resources CloudFormation creates for these answers (devstack.template)."""
    return deployed_resources(TEMPLATE, answers)


def of_type(resources: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    found = {name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == kind}
    assert found, kind
    return found


def managed_policies_of(resources: dict[str, dict[str, Any]], function: str) -> list[Any]:
    """The managed policies a function's role gets: its SAM Policies that are not statements, or its role's."""
    properties = resources[function]["Properties"]
    if "Role" in properties:
        return list(resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]["ManagedPolicyArns"])
    return [policy for policy in properties.get("Policies", []) if "Statement" not in policy]


# --- encryption ---------------------------------------------------------------------------------------------------


def test_without_a_key_aws_managed_keys_encrypt_what_csrgate_keeps() -> None:
    resources = stack()
    assert of_type(resources, "AWS::DynamoDB::Table")["RequestTable"]["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",  # with no key named: the AWS-managed aws/dynamodb
    }
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["SqsManagedSseEnabled"] is True and "KmsMasterKeyId" not in queue, name
    for kind in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
        for name, properties in of_type(resources, kind).items():
            assert "KmsKeyId" not in properties, name
    # never alias/aws/sns: CloudWatch alarms cannot use that key, so no alarm would ever be told
    assert "KmsMasterKeyId" not in of_type(resources, "AWS::SNS::Topic")["AlarmTopic"]
    assert "KmsKeyUsePolicy" not in resources
    for function in FUNCTIONS:
        assert {"Ref": "KmsKeyUsePolicy"} not in managed_policies_of(resources, function), function


def test_with_a_key_it_encrypts_the_table_the_queues_the_secrets_the_logs_and_the_alarm_topic() -> None:
    resources = stack(KmsKeyArn=KEY)
    key = {"Ref": "KmsKeyArn"}
    assert of_type(resources, "AWS::DynamoDB::Table")["RequestTable"]["SSESpecification"]["KMSMasterKeyId"] == key
    for name, queue in of_type(resources, "AWS::SQS::Queue").items():
        assert queue["KmsMasterKeyId"] == key and "SqsManagedSseEnabled" not in queue, name
    for kind in ("AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"):
        for name, properties in of_type(resources, kind).items():
            assert properties["KmsKeyId"] == key, name
    assert of_type(resources, "AWS::SNS::Topic")["AlarmTopic"]["KmsMasterKeyId"] == key


def test_with_a_key_each_function_may_use_it_only_through_the_services_that_keep_its_data() -> None:
    resources = stack(KmsKeyArn=KEY)
    for function in FUNCTIONS:
        assert {"Ref": "KmsKeyUsePolicy"} in managed_policies_of(resources, function), function
    statements = resources["KmsKeyUsePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    services = set()
    for statement in statements:
        assert statement["Effect"] == "Allow" and statement["Resource"] == {"Ref": "KmsKeyArn"}, statement["Sid"]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not {"kms:*", "kms:CreateGrant", "kms:ScheduleKeyDeletion", "kms:PutKeyPolicy"} & set(actions)
        services.add(statement["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"])
    assert services == {
        f"{service}.${{AWS::Region}}.amazonaws.com" for service in ("dynamodb", "sqs", "secretsmanager")
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (KEY, True),
        ("arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab", True),
        ("arn:aws:kms:eu-west-1:123456789012:alias/csrgate", False),  # IAM cannot scope a policy to an alias
        ("1234abcd-12ab-34cd-56ef-1234567890ab", False),
    ],
)
def test_the_key_must_be_named_by_its_arn(value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(TEMPLATE["Parameters"]["KmsKeyArn"]["AllowedPattern"], value)) is accepted


# --- the worker's network -----------------------------------------------------------------------------------------


def test_without_subnets_no_function_runs_in_a_vpc_or_may_make_network_interfaces() -> None:
    resources = stack()
    for function in FUNCTIONS:
        assert "VpcConfig" not in resources[function]["Properties"], function
        assert "AWSLambdaVPCAccessExecutionRole" not in json.dumps(managed_policies_of(resources, function)), function


def test_with_subnets_the_worker_alone_runs_in_them_and_may_make_its_network_interfaces() -> None:
    resources = stack(**VPC)
    assert resources["WorkerFunction"]["Properties"]["VpcConfig"] == {
        "SubnetIds": {"Ref": "WorkerSubnetIds"},
        "SecurityGroupIds": {"Ref": "WorkerSecurityGroupIds"},
    }
    assert "AWSLambdaVPCAccessExecutionRole" in json.dumps(managed_policies_of(resources, "WorkerFunction"))
    for function in set(FUNCTIONS) - {"WorkerFunction"}:
        assert "VpcConfig" not in resources[function]["Properties"], function
    # SAM would name the role it made WorkerFunctionRole: written out under that name, the role stays the same one
    assert resources["WorkerFunction"]["Properties"]["Role"] == {"Fn::GetAtt": ["WorkerFunctionRole", "Arn"]}


@pytest.mark.parametrize(
    ("answers", "refused"),
    [
        ({}, False),
        (VPC, False),
        ({"WorkerSubnetIds": VPC["WorkerSubnetIds"]}, True),
        ({"WorkerSecurityGroupIds": "sg-1"}, True),
    ],
)
def test_subnets_and_security_groups_come_together_or_are_refused_before_anything_is_made(
    answers: dict[str, str], refused: bool
) -> None:
    values = parameter_values(TEMPLATE, answers)
    conditions = conditions_for(TEMPLATE, values)
    failed = [
        assertion["AssertDescription"]
        for rule in TEMPLATE["Rules"].values()
        if evaluated(rule["RuleCondition"], values, conditions)
        for assertion in rule["Assertions"]
        if not evaluated(assertion["Assert"], values, conditions)
    ]
    assert bool(failed) is refused, failed


# --- bounds, alarms, tracing --------------------------------------------------------------------------------------


def test_every_function_is_bounded_and_each_queue_hands_it_no_more_than_its_reserve() -> None:
    resources = TEMPLATE["Resources"]
    routes = resources["CsrgateApi"]["Properties"]["RouteSettings"]
    for function in FUNCTIONS:
        properties = resources[function]["Properties"]
        reserve = properties["ReservedConcurrentExecutions"]
        assert isinstance(reserve, int) and reserve >= 1, function
        for event in properties["Events"].values():
            if event["Type"] == "SQS":
                # more pollers than the reserve would throttle messages back into the queue, towards dead letters
                assert 2 <= event["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= reserve, function
            if event["Type"] == "HttpApi":
                # the API lets at most its burst through at once: the reserve takes the whole burst of a route
                route = routes[f"{event['Properties']['Method']} {event['Properties']['Path']}"]
                assert route["ThrottlingBurstLimit"] <= reserve, (function, event["Properties"]["Path"])


def test_readme_says_how_much_concurrency_the_account_needs() -> None:
    reserved = sum(TEMPLATE["Resources"][name]["Properties"]["ReservedConcurrentExecutions"] for name in FUNCTIONS)
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"reserve {reserved} concurrent executions" in readme
    assert f"at least {reserved + 100}" in readme  # Lambda keeps 100 unreserved


def test_every_alarm_tells_the_topic_the_alarm_email_is_subscribed_to() -> None:
    for name, alarm in of_type(stack(), "AWS::CloudWatch::Alarm").items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
    assert "AlarmEmailSubscription" not in stack()
    subscription = stack(AlarmEmail="platform@example.com")["AlarmEmailSubscription"]["Properties"]
    assert subscription == {"TopicArn": {"Ref": "AlarmTopic"}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}}
    pattern = TEMPLATE["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert re.fullmatch(pattern, "") and re.fullmatch(pattern, "platform+csrgate@example.com")
    assert not re.fullmatch(pattern, "platform") and not re.fullmatch(pattern, "a@example.com, b@example.com")


def test_tracing_is_off_and_no_role_may_write_traces() -> None:
    assert "Tracing" not in TEMPLATE["Globals"]["Function"]
    for function in FUNCTIONS:
        assert "Tracing" not in TEMPLATE["Resources"][function]["Properties"], function
    assert "xray" not in json.dumps(TEMPLATE["Resources"]).lower()


def test_every_check_the_scanner_skips_says_why() -> None:
    skipped = [
        (name, skip)
        for name, resource in TEMPLATE["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skipped
    for name, skip in skipped:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"]) and len(skip["comment"].split()) >= 12, (name, skip)


# --- the guided deploy --------------------------------------------------------------------------------------------


def test_readme_walks_every_parameter_guided_asks_for_in_the_order_it_asks() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### A first deploy") : readme.index("### The dashboard and the saved queries")]
    asked = re.findall(r"^\d+\. `Parameter (\w+) \[", section, flags=re.MULTILINE)
    assert asked == list(TEMPLATE["Parameters"])  # SAM CLI asks in the template's order
    for parameter, spec in TEMPLATE["Parameters"].items():
        assert f"`Parameter {parameter} [{spec.get('Default', '')}]`" in section, parameter
