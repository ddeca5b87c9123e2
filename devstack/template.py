"""template.yaml as CloudFormation decides it for a deployment's answers: each parameter's value, each condition's,
a rule's, and the resources with every Fn::If taken and AWS::NoValue left out (other intrinsic functions are kept as
written, for the reader to resolve as it needs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NO_VALUE = object()


def parameter_values(template: Mapping[str, Any], answers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Each parameter's value for these answers (the rest at their defaults); a CommaDelimitedList is a list."""
    values: dict[str, Any] = {}
    for name, spec in template.get("Parameters", {}).items():
        value = (answers or {}).get(name, spec.get("Default", ""))
        values[name] = str(value).split(",") if spec["Type"] == "CommaDelimitedList" else value
    return values


def evaluated(expression: Any, values: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    """A condition's (or a rule's) value: the functions conditions and rules may use, as CloudFormation reads them."""
    if isinstance(expression, str):
        return expression
    if isinstance(expression, list):
        return [evaluated(item, values, conditions) for item in expression]
    ((function, argument),) = expression.items()
    if function == "Ref":
        return values[argument]
    if function == "Condition":
        return conditions[argument]
    operands = evaluated(argument, values, conditions)
    if function == "Fn::Equals":
        return operands[0] == operands[1]
    if function == "Fn::Not":
        return not operands[0]
    if function == "Fn::Join":
        return operands[0].join(operands[1])
    if function == "Fn::EachMemberEquals":
        return all(member == operands[1] for member in operands[0])
    raise ValueError(f"a function conditions cannot use here: {function}")


def conditions_for(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, bool]:
    """Each of the template's conditions for these parameter values (a condition may name one declared before)."""
    conditions: dict[str, bool] = {}
    for name, expression in template.get("Conditions", {}).items():
        conditions[name] = bool(evaluated(expression, values, conditions))
    return conditions


def chosen(node: Any, conditions: Mapping[str, bool]) -> Any:
    """`node` with each Fn::If taken as its condition says and AWS::NoValue left out."""
    if isinstance(node, dict):
        if node == {"Ref": "AWS::NoValue"}:
            return _NO_VALUE
        if set(node) == {"Fn::If"}:
            condition, when_true, when_false = node["Fn::If"]
            return chosen(when_true if conditions[condition] else when_false, conditions)
        pairs = ((key, chosen(value, conditions)) for key, value in node.items())
        return {key: value for key, value in pairs if value is not _NO_VALUE}
    if isinstance(node, list):
        return [item for item in (chosen(value, conditions) for value in node) if item is not _NO_VALUE]
    return node


def deployed_resources(template: Mapping[str, Any], answers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The resources CloudFormation creates for these answers, each Fn::If taken and AWS::NoValue left out."""
    conditions = conditions_for(template, parameter_values(template, answers))
    return {
        name: chosen(resource, conditions)
        for name, resource in template["Resources"].items()
        if conditions.get(resource.get("Condition", ""), True)
    }
