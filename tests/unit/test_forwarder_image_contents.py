"""The forwarder image carries what the forwarder imports and nothing of Lambda's: `python -m csrgate.forwarder` in a
fresh interpreter never imports boto3, slack_sdk, Powertools or cryptography, even where they are installed; it starts
with only its lock's packages on the path, and imports every one of them; every module of the Lambda layer imports
with the layer's lock alone. Each lock (forwarder/requirements.txt for the image, layers/deps/requirements.txt for the
Lambda layer) is exactly its part of csrgate's pyproject.toml with everything that needs, every file pinned by hash,
and the two agree on every package they share."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FORWARDER_LOCK = ROOT / "forwarder" / "requirements.txt"
LAMBDA_LOCK = ROOT / "layers" / "deps" / "requirements.txt"
# What `python -m csrgate.forwarder` does, up to the point where it needs a cluster: with no CSRGATE_* settings it
# has imported everything and exits 2 naming the first missing one. Then the modules it imported, as JSON.
RUN_FORWARDER = """
import json, runpy, sys
sys.argv = ["csrgate.forwarder"]
try:
    runpy.run_module("csrgate.forwarder", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    assert exit.code == 2, exit.code
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)")


def locked(lock: Path) -> dict[str, str]:
    """The lock's pins, by canonical name; each must carry at least one sha256 hash (--require-hashes needs it)."""
    pins: dict[str, str] = {}
    for entry in re.split(r"\n(?=\S)", lock.read_text()):
        match = PIN.match(entry)
        if match:
            assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"{match['name']} has no hash in {lock}"
            pins[canonicalize_name(match["name"])] = match["version"]
    return pins


def declared(extra: str) -> set[str]:
    """csrgate's core and `extra` requirements and everything they require, by canonical name (from the installed
    metadata of this development install, which has every part)."""
    found: set[str] = set()
    wanted = [("csrgate", {extra})]
    while wanted:
        name, extras = wanted.pop()
        for requirement in map(Requirement, distribution(name).requires or []):
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": one}) for one in extras | {""}):
                continue
            key = canonicalize_name(requirement.name)
            if key not in found:
                found.add(key)
                wanted.append((key, set(requirement.extras)))
    return found


def run_forwarder(*options: str, prelude: str = "") -> set[str]:
    """The top-level modules a fresh interpreter holds after running the forwarder's module (no settings at all)."""
    result = subprocess.run(
        [sys.executable, *options, "-c", prelude + RUN_FORWARDER], capture_output=True, text=True, env={}, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "csrgate forward: CSRGATE_API_URL" in result.stderr  # it got as far as reading its settings
    return set(json.loads(result.stdout))


def test_the_forwarder_never_imports_what_only_lambda_needs() -> None:
    # GIVEN this development install, where boto3, slack_sdk, Powertools and cryptography are all importable
    # WHEN a fresh interpreter runs the forwarder's module
    modules = run_forwarder()

    # THEN none of them was imported, through csrgate's shared modules or otherwise
    assert {"csrgate", "kubernetes", "botocore", "prometheus_client"} <= modules
    assert modules & {"boto3", "s3transfer", "slack_sdk", "aws_lambda_powertools", "cryptography"} == set()


def site_of(lock: Path, site: Path) -> tuple[str, dict[str, set[str]]]:
    """A site directory holding `lock`'s packages and nothing else (links to this venv's copies), as the image or the
    layer has them; the line that puts it and csrgate's source first on sys.path, and each package's top modules."""
    site.mkdir()
    tops: dict[str, set[str]] = {}
    for name in locked(lock):
        installed = distribution(name)
        # what the wheel put at the top of site-packages (packages, modules, its .dist-info); not scripts or bytecode
        parts = {Path(str(file)).parts[0] for file in installed.files or []} - {"..", "__pycache__"}
        tops[name] = {part.removesuffix(".py") for part in parts if not part.endswith(".dist-info")}
        for part in parts:
            (site / part).symlink_to(installed.locate_file(part))
    return f"import sys; sys.path[:0] = [{str(ROOT / 'layers' / 'csrgate')!r}, {str(site)!r}]\n", tops


def test_the_forwarder_starts_with_only_its_lock_on_the_path_and_imports_all_of_it(tmp_path: Path) -> None:
    # GIVEN a site directory holding the forwarder lock's packages and nothing else, as the image's environment does
    path, tops = site_of(FORWARDER_LOCK, tmp_path / "site")

    # WHEN a Python without this venv's site-packages (-S) runs the forwarder's module with it and csrgate's source
    modules = run_forwarder("-I", "-S", prelude=path)

    # THEN it got as far as its settings (an import the lock lacks would have failed) and used every package it carries
    unused = {name for name, names in tops.items() if not names & modules}
    assert unused == set()


def test_every_module_the_lambda_layer_ships_imports_with_only_the_layers_lock(tmp_path: Path) -> None:
    path, _ = site_of(LAMBDA_LOCK, tmp_path / "site")
    # what layers/csrgate/Makefile puts in the csrgate layer: everything but the forwarder
    code = (
        "import importlib, pkgutil, csrgate\n"
        "names = [m.name for m in pkgutil.walk_packages(csrgate.__path__, 'csrgate.')\n"
        "         if not m.name.startswith('csrgate.forwarder')]\n"
        "print(len([importlib.import_module(name) for name in names]))\n"
    )

    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", path + code], capture_output=True, text=True, env={}, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 50


@pytest.mark.parametrize(("lock", "extra"), [(FORWARDER_LOCK, "forwarder"), (LAMBDA_LOCK, "lambda")])
def test_each_lock_holds_exactly_its_part_of_csrgate_and_what_that_needs(lock: Path, extra: str) -> None:
    pins = locked(lock)
    wanted = lock.with_suffix(".in").read_text().splitlines()

    assert set(pins) == declared(extra), "run `make -C layers/deps lock` after changing what csrgate requires"
    for line in wanted:  # and after changing requirements.in
        if match := PIN.match(line):
            assert pins[canonicalize_name(match["name"])] == match["version"], f"{line}: run make -C layers/deps lock"


def test_the_image_and_the_layer_ship_the_same_version_of_every_package_they_share() -> None:
    image, layer = locked(FORWARDER_LOCK), locked(LAMBDA_LOCK)

    assert {name: image[name] for name in image.keys() & layer.keys()} == {
        name: layer[name] for name in image.keys() & layer.keys()
    }
    assert image.keys() - layer.keys() == {"prometheus-client"}
