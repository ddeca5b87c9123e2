"""The suite itself: nothing that changes between runs (a clock, a random value, a free port) is computed when
pytest collects a module. A full run takes minutes, so a time taken at collection is stale by the time its test
runs: "ten minutes ago" taken at collection has become fifteen, and a window check passes or fails by luck."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
BENCH = TESTS.parent / "bench"

# Calls whose answer depends on when or where they run. Matched against the dotted name of the call
# (`time.time`, `datetime.datetime.now`, `free_port`), by its last part or by its first.
VOLATILE_LAST = {
    "time",
    "monotonic",
    "perf_counter",
    "now",
    "utcnow",
    "today",
    "urandom",
    "uuid1",
    "uuid4",
    "token_hex",
    "token_bytes",
    "free_port",
    "_free_port",
    "random_serial_number",
}
VOLATILE_FIRST = {"random", "secrets"}


def dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return dotted(node.func)
    return "?"


def volatile_calls(node: ast.AST) -> Iterator[ast.Call]:
    """Calls under `node` that are evaluated where `node` is, skipping the bodies of lambdas and functions."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef) and current is not node:
            continue
        if isinstance(current, ast.Call):
            name = dotted(current.func).split(".")
            if name[-1] in VOLATILE_LAST or name[0] in VOLATILE_FIRST:
                yield current
        stack.extend(ast.iter_child_nodes(current))


def evaluated_at_import(tree: ast.Module) -> Iterator[ast.AST]:
    """The expressions Python evaluates when it imports a module: top-level and class-level statements (not the
    bodies of functions), decorators (pytest's parametrize among them) and default argument values."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from statement.decorator_list
            yield from statement.args.defaults
            yield from (default for default in statement.args.kw_defaults if default is not None)
        elif isinstance(statement, ast.ClassDef):
            yield from statement.decorator_list
            yield from statement.bases
            pending.extend(statement.body)
        elif isinstance(statement, ast.If | ast.Try | ast.With):
            yield from (child for child in ast.iter_child_nodes(statement) if isinstance(child, ast.expr))
            for block in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(statement, block, []))
        elif isinstance(statement, ast.ExceptHandler):
            pending.extend(statement.body)
        else:
            yield statement


def findings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        f"{path.relative_to(TESTS.parent)}:{call.lineno}: {dotted(call.func)}() is computed at import"
        for expression in evaluated_at_import(tree)
        for call in volatile_calls(expression)
    ]


def test_nothing_volatile_is_computed_when_a_test_module_is_collected() -> None:
    modules = sorted(TESTS.rglob("*.py")) + sorted(BENCH.rglob("*.py"))
    assert len(modules) > 20, "the suite's modules were not found"
    problems = [problem for module in modules for problem in findings(module)]
    assert problems == [], "compute these inside the test or fixture that uses them:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import time\n@pytest.mark.parametrize('at', [time.time() - 600])\ndef test(at): ...",
        "import datetime\nNOW = datetime.datetime.now(datetime.UTC)",
        "class TestX:\n    deadline = time.monotonic() + 5",
        "def test(port=free_port()): ...",
        "import random\nSEED = random.randint(0, 9)",
    ],
)
def test_the_check_catches_a_clock_taken_at_collection(source: str) -> None:
    assert findings_of(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import time\ndef test():\n    at = time.time() - 600",
        "import time\nclock = lambda: time.time()",
        "@pytest.mark.parametrize('skew', [-600, 600])\ndef test(skew): ...",
    ],
)
def test_the_check_leaves_times_taken_inside_tests_alone(source: str) -> None:
    assert findings_of(source) == []


def findings_of(source: str) -> list[str]:
    tree = ast.parse(source)
    return [dotted(call.func) for expression in evaluated_at_import(tree) for call in volatile_calls(expression)]
