"""What template.yaml lets each function call in AWS, checked against the calls it really makes in the local stack.

The local AWS (moto's in-process mock) answers every call whoever makes it; AWS answers a function only what its role
allows. `enforced_roles` sees each request a function makes (found by its handler's frame on the caller's stack, as
Lambda gives each function its own role), works out the IAM action and resource AWS would authorize it by, and
checks them against the function's statements in the template, so a call the template does not allow fails its test
here instead of the first deploy. Only what csrgate calls is understood: a request of any other kind is reported, not
waved through.
"""

from __future__ import annotations

import fnmatch
import json
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.aws import load_template
from devstack.template import chosen, conditions_for, parameter_values

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"  # moto's
STACK_NAME = "csrgate"  # the lab's CSRGATE_STACK_NAME
# A transaction's entries, and the action each is authorized as (TransactWriteItems has no action of its own)
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]

    def matches(self, action: str, resource: str) -> bool:
        return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in self.actions) and any(
            fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources
        )


@dataclass(frozen=True)
class Need:
    """One authorization a request needs."""

    action: str
    resource: str


def allowed(statements: list[Statement], need: Need) -> bool:
    """IAM's answer for one identity policy: an explicit deny wins, then any allow (conditions are not read: the
    template's only condition narrows kms:Decrypt to SSM, which the functions never call themselves)."""
    matching = [statement for statement in statements if statement.matches(need.action, need.resource)]
    return bool(matching) and all(statement.effect == "Allow" for statement in matching)


# --- the template's roles ------------------------------------------------------------------------------------------


@dataclass
class _Template:
    """The template's values as the local stack made them: parameters at their defaults, the provisioned names."""

    document: dict[str, Any]
    provisioned: Mapping[str, str]  # logical id to name, URL or ARN, as devstack.aws.provision made them
    region: str

    def __post_init__(self) -> None:
        self.parameters = parameter_values(self.document)
        self.conditions = conditions_for(self.document, self.parameters)
        self.pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK_NAME,
        }

    def value(self, node: Any) -> Any:
        """A value of a policy, its Fn::If already taken (devstack.template.chosen): Ref, Fn::GetAtt and Fn::Sub."""
        if isinstance(node, list):
            return [self.value(value) for value in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"}:
            return self.ref(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            logical_id, attribute = node["Fn::GetAtt"]
            return self.attribute(logical_id, attribute)
        if set(node) == {"Fn::Sub"}:
            text, variables = (node["Fn::Sub"], {}) if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"]
            return self.substitute(text, {name: self.value(value) for name, value in variables.items()})
        if any(key.startswith("Fn::") for key in node):
            raise ValueError(f"the IAM check cannot read {node}")
        return {key: self.value(value) for key, value in node.items()}

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.provisioned.get(name, name)  # a secret's ARN; a managed policy's logical id

    def attribute(self, logical_id: str, attribute: str) -> str:
        kind = self.document["Resources"][logical_id]["Type"]
        if attribute != "Arn":
            raise ValueError(f"the IAM check cannot read {logical_id}.{attribute}")
        name = self.provisioned.get(logical_id, logical_id)
        if kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{self.region}:{ACCOUNT}:table/{name}"
        if kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{self.region}:{ACCOUNT}:{logical_id}"
        return f"arn:aws:cloudformation:{self.region}:{ACCOUNT}:{kind}/{logical_id}"  # nothing a function calls

    def substitute(self, text: str, variables: Mapping[str, Any]) -> str:
        result, rest = "", text
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            if name in variables:
                value = variables[name]
            elif "." in name:
                value = self.attribute(*name.split(".", 1))
            else:
                value = self.ref(name)
            result += before + str(value)
        return result + rest

    def statements(self, policies: list[Any]) -> list[Statement]:
        found = []
        for policy in self.value(chosen(policies, self.conditions)):
            if isinstance(policy, str):  # a managed policy: the stack's own, or AWS's (logs, VPC: nothing called)
                resource = self.document["Resources"].get(policy)
                if resource is None:
                    continue
                policy = self.value(chosen(resource["Properties"]["PolicyDocument"], self.conditions))
            document = policy.get("PolicyDocument", policy)
            for statement in document["Statement"]:
                actions, resources = statement["Action"], statement["Resource"]
                found.append(
                    Statement(
                        effect=statement["Effect"],
                        actions=tuple([actions] if isinstance(actions, str) else actions),
                        resources=tuple([resources] if isinstance(resources, str) else resources),
                    )
                )
        return found


def function_roles(provisioned: Mapping[str, str], region: str) -> dict[str, list[Statement]]:
    """Each function's statements, by its code directory (functions/<name>): its own Policies, or its Role's."""
    template = _Template(load_template(), provisioned, region)
    resources = template.document["Resources"]
    roles = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        if "Role" in properties:
            role = resources[properties["Role"]["Fn::GetAtt"][0]]["Properties"]
            policies = [*role.get("Policies", []), *role.get("ManagedPolicyArns", [])]
        else:
            policies = properties.get("Policies", [])
        roles[str(properties["CodeUri"]).rstrip("/")] = template.statements(policies)
    return roles


# --- what a request needs ------------------------------------------------------------------------------------------


def needs(request: Any) -> list[Need]:
    """The authorizations AWS checks for one botocore request (an AWSPreparedRequest), or a Need naming what this
    check does not understand."""
    url = urlsplit(request.url)
    service, region = (url.hostname or "").split(".")[:2]
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    if service == "eks":
        return _eks_needs(request.method, url.path, region)
    if not target:
        return [Need(f"{service}:<not understood>", request.url)]
    operation = target.rsplit(".", 1)[-1]
    body = request.body or b"{}"
    params = json.loads(body.decode() if isinstance(body, bytes) else body)
    reader = {"dynamodb": _dynamodb_needs, "sqs": _sqs_needs, "secretsmanager": _secret_needs, "ssm": _ssm_needs}
    if service not in reader:
        return [Need(f"{service}:{operation}", "<not understood>")]
    return reader[service](operation, params, region)


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


def _dynamodb_needs(operation: str, params: dict[str, Any], region: str) -> list[Need]:
    def table(name: str, index: str | None = None) -> str:
        return _arn("dynamodb", region, f"table/{name}" + (f"/index/{index}" if index else ""))

    if operation == "TransactWriteItems":
        return [
            Need(f"dynamodb:{_TRANSACT_ACTIONS[kind]}", table(entry["TableName"]))
            for item in params["TransactItems"]
            for kind, entry in item.items()
        ]
    if operation == "TransactGetItems":
        return [Need("dynamodb:GetItem", table(item["Get"]["TableName"])) for item in params["TransactItems"]]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Need(f"dynamodb:{operation}", table(name)) for name in params["RequestItems"]]
    return [Need(f"dynamodb:{operation}", table(params["TableName"], params.get("IndexName")))]


def _sqs_needs(operation: str, params: dict[str, Any], region: str) -> list[Need]:
    action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}.get(operation, operation)
    queue = params["QueueUrl"].rstrip("/").rsplit("/", 1)[-1] if "QueueUrl" in params else params["QueueName"]
    return [Need(f"sqs:{action}", _arn("sqs", region, queue))]


def _secret_needs(operation: str, params: dict[str, Any], region: str) -> list[Need]:
    secret = params["SecretId"]
    # by name, the ARN ends in Secrets Manager's six random characters
    arn = secret if secret.startswith("arn:") else _arn("secretsmanager", region, f"secret:{secret}-AbCdEf")
    return [Need(f"secretsmanager:{operation}", arn)]


def _ssm_needs(operation: str, params: dict[str, Any], region: str) -> list[Need]:
    if operation == "GetParameters":
        return [Need("ssm:GetParameters", _arn("ssm", region, f"parameter{name}")) for name in params["Names"]]
    path = params.get("Path") or params.get("Name") or ""
    return [Need(f"ssm:{operation}", _arn("ssm", region, f"parameter{path}"))]


def _eks_needs(method: str, path: str, region: str) -> list[Need]:
    parts = path.strip("/").split("/")
    if method == "GET" and len(parts) == 2 and parts[0] == "clusters":
        return [Need("eks:DescribeCluster", _arn("eks", region, f"cluster/{parts[1]}"))]
    return [Need(f"eks:<{method} {path} not understood>", "<not understood>")]


# --- the check -----------------------------------------------------------------------------------------------------


def calling_function() -> str | None:
    """The code directory (functions/<name>) of the function whose handler is on this thread's stack, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("csrgate_function_"):
            return str(Path(frame.f_globals["__file__"]).resolve().parent.relative_to(ROOT))
        frame = frame.f_back  # type: ignore[assignment]
    return None


@dataclass
class RoleCheck:
    """What the functions were authorized for, and what AWS would have refused them: function, action, resource."""

    allowed: set[tuple[str, str, str]] = field(default_factory=set)
    refused: set[tuple[str, str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, function: str, need: Need, answer: bool) -> None:
        with self._lock:
            (self.allowed if answer else self.refused).add((function, need.action, need.resource))

    def report(self) -> str:
        return "\n".join(f"  {function}: {action} on {resource}" for function, action, resource in sorted(self.refused))


@contextmanager
def enforced_roles(provisioned: Mapping[str, str], region: str) -> Iterator[RoleCheck]:
    """Check every request a function makes through moto's in-process mock against its role. What AWS would refuse
    is collected, not answered, so that the function runs on and the test names everything its role lacks."""
    from moto.core.botocore_stubber import BotocoreStubber

    roles = function_roles(provisioned, region)
    check = RoleCheck()
    unchecked = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        function = calling_function()
        if function is not None:
            for need in needs(request):
                check.add(function, need, allowed(roles.get(function, []), need))
        return unchecked(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield check
    finally:
        BotocoreStubber.process_request = unchecked  # type: ignore[method-assign]
