"""The template's Lambda functions, each loaded in this process once (a warm container) with its own environment."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_ENVIRON_LOCK = threading.Lock()


@dataclass
class LambdaContext:
    """What Lambda hands a handler as its context (what Powertools reads)."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The ARN Lambda would name the function by."""
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


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
            path = self.code_dir / "app.py"
            name = f"csrgate_local_{self.logical_id}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        self._module = module
        return self

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call lambda_handler with the event; one call at a time."""
        assert self._module is not None, f"{self.logical_id} is not loaded"
        context = LambdaContext(self.logical_id, self.timeout_seconds, self.memory_mb)
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
