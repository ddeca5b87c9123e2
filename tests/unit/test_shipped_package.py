"""What ships is csrgate alone: the wheel and the Lambda layer carry no devstack, and csrgate never imports it."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "csrgate"


def test_no_module_of_the_shipped_package_imports_devstack() -> None:
    # `csrgate dev` is added by the development install's entry point (the root pyproject.toml), never by csrgate
    importing = [
        str(module.relative_to(PACKAGE))
        for module in (PACKAGE / "csrgate").rglob("*.py")
        for node in ast.walk(ast.parse(module.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(name.split(".")[0] == "devstack" for name in _imported(node))
    ]
    assert importing == []


def test_the_built_wheel_holds_csrgate_alone_and_imports_without_devstack(tmp_path: Path) -> None:
    # GIVEN the wheel built from the shipped project (from a copy, so the build leaves nothing in the tree)
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    build = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "--wheel-dir", str(tmp_path / "wheels"), str(source)], check=True, capture_output=True)
    [wheel] = (tmp_path / "wheels").glob("csrgate-*.whl")
    # THEN it holds the csrgate package and its metadata, and no entry point adds commands to csrgate
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"csrgate", "csrgate-0.1.0.dist-info"}
    entry_points = zipfile.ZipFile(wheel).read("csrgate-0.1.0.dist-info/entry_points.txt").decode()
    assert "csrgate.commands" not in entry_points
    # AND importing every module of it, from the wheel's own files, imports no devstack
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = (
        f"import sys; sys.path.insert(0, {str(unpacked)!r}); import csrgate, importlib, pkgutil; "
        "assert csrgate.__file__.startswith(sys.path[0]), csrgate.__file__; "
        "modules = [m.name for m in pkgutil.walk_packages(csrgate.__path__, 'csrgate.')]; "
        "[importlib.import_module(name) for name in modules if not name.endswith('__main__')]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'devstack'))"
    )
    result = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    return [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
