"""The template's Lambda functions, each loaded in this process once (a warm container) with its own environment."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from devstack.harness import LambdaContext, load_function

ROOT = Path(__file__).resolve().parent.parent
_ENVIRON_LOCK = threading.Lock()


@dataclass
class LocalFunction:
    """One function: its handler module, loaded once, and one invocation at a time, as one Lambda container."""

    logical_id: str
    code_dir: Path
    environment: dict[str, str]
    timeout_seconds: int
    memory_mb: int
    _module: ModuleType | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> LocalFunction:
        """Import app.py with the function's environment in place (its configuration is read at cold start)."""
        with _environment(self.environment):
            self._module = load_function(self.logical_id, self.code_dir)
        return self

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call lambda_handler with the event; one call at a time."""
        assert self._module is not None, f"{self.logical_id} is not loaded"
        region = self.environment.get("AWS_DEFAULT_REGION", "us-east-1")
        context = LambdaContext(self.logical_id, self.timeout_seconds, self.memory_mb, region)
        with self._lock:
            return self._module.lambda_handler(event, context)


def resolve(value: Any, refs: Mapping[str, str]) -> str:
    """A template value as a string, with `!Ref` resolved from `refs` (logical id or parameter to value)."""
    if isinstance(value, dict) and "Ref" in value:
        return refs[str(value["Ref"])]
    if isinstance(value, dict):
        raise ValueError(f"the local stack cannot resolve {value!r}")
    return str(value)


def template_functions(
    template: dict[str, Any], refs: Mapping[str, str], extra_env: Mapping[str, str]
) -> dict[str, LocalFunction]:
    """Every AWS::Serverless::Function in the template, with Globals and its own environment resolved."""
    globals_ = template.get("Globals", {}).get("Function", {})
    base_env = globals_.get("Environment", {}).get("Variables", {})
    functions = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        variables = {**base_env, **properties.get("Environment", {}).get("Variables", {})}
        environment = {name: resolve(value, refs) for name, value in variables.items()}
        environment.update(extra_env)
        functions[logical_id] = LocalFunction(
            logical_id=logical_id,
            code_dir=ROOT / str(properties["CodeUri"]),
            environment=environment,
            timeout_seconds=int(properties.get("Timeout", globals_.get("Timeout", 3))),
            memory_mb=int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
        )
    return functions


def parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    """The template's parameters at their defaults (what `sam deploy` uses when nothing overrides them)."""
    return {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items() if "Default" in spec}


@contextmanager
def _environment(variables: Mapping[str, str]) -> Iterator[None]:
    # Functions share this process's os.environ, so each sees its own variables only while it is imported.
    with _ENVIRON_LOCK:
        saved = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        try:
            yield
        finally:
            for name, previous in saved.items():
                if previous is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = previous
