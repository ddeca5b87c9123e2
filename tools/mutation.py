"""Mutation testing of csrgate.domain against the fast domain tier (`make mutation`), with a kill rate per module.

mutmut names a mutant after its file's path from the directory it runs in, and puts only that directory and its
src/ ahead of the editable install on sys.path. csrgate lives in layers/csrgate, so mutmut runs in build/mutation/,
where src/csrgate, tests and pyproject.toml (with its [tool.mutmut] section) link back into the repository; the
mutated copies go to build/mutation/mutants/. Each run starts from scratch, so a cached verdict never outlives the
tests that earned it. Usage: `tools/mutation.py [MODULE ...]`, e.g. `tools/mutation.py pem csr` while working on two.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "build" / "mutation"
LINKS = {
    "src/csrgate": ROOT / "layers/csrgate/csrgate",
    "tests": ROOT / "tests",
    "pyproject.toml": ROOT / "pyproject.toml",
}
DOMAIN = ROOT / "layers/csrgate/csrgate/domain"
RESULTS = WORK / "mutants/src/csrgate/domain"
THRESHOLD = 90.0
# A timeout is a kill too: the mutant made the tests hang, as it would hang csrgate.
KILLED = {"killed", "timeout", "caught by type check"}


def prepare() -> None:
    """A fresh build/mutation/ whose src/csrgate, tests and pyproject.toml are the repository's own."""
    shutil.rmtree(WORK, ignore_errors=True)
    for name, target in LINKS.items():
        link = WORK / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)


def run_mutmut(modules: list[str]) -> int:
    """mutmut run in build/mutation/, limited to the mutants of `modules` when some are named; its exit code."""
    names = [f"csrgate.domain.{module}.*" for module in modules]
    return subprocess.run([Path(sys.executable).with_name("mutmut"), "run", *names], cwd=WORK).returncode


def statuses(modules: list[str]) -> dict[str, dict[str, str]]:
    """Per module with mutants (all, or those named), each mutant's status as mutmut words it ("killed", ...)."""
    found = {}
    for meta in sorted(RESULTS.glob("*.py.meta")):
        module = meta.name.removesuffix(".py.meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes and (not modules or module in modules):
            found[module] = {key: status_by_exit_code[code] for key, code in codes.items()}
    return found


def report(found: dict[str, dict[str, str]]) -> bool:
    """Print each module's kill rate and the mutants that lived; whether every module reaches the threshold."""
    below = []
    print(f"\n{'module':<14}{'killed':>8}{'lived':>7}{'no test':>9}{'rate':>8}")
    for module, by_key in found.items():
        killed = sum(status in KILLED for status in by_key.values())
        untested = sum(status == "no tests" for status in by_key.values())
        rate = 100.0 * killed / len(by_key)
        flag = f"  below {THRESHOLD:.0f}%" if rate < THRESHOLD else ""
        print(f"{module:<14}{killed:>8}{len(by_key) - killed - untested:>7}{untested:>9}{rate:>7.1f}%{flag}")
        if rate < THRESHOLD:
            below.append(module)
    for module, by_key in found.items():
        lived = sorted((key for key, status in by_key.items() if status not in KILLED | {"no tests"}), key=_order)
        if lived:
            print(f"\n{module}: lived (see one with `cd build/mutation && ../../.venv/bin/mutmut show NAME`)")
            print("\n".join(f"  {key} ({by_key[key]})" for key in lived))
    if below:
        print(f"\nbelow {THRESHOLD:.0f}% killed: {', '.join(below)}")
    return not below


def _order(key: str) -> tuple[str, int]:
    function, _, number = key.rpartition("__mutmut_")
    return function, int(number)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="domain modules to mutate (pem, csr, ...); all when none")
    modules = parser.parse_args().modules
    unknown = [module for module in modules if not (DOMAIN / f"{module}.py").is_file()]
    if unknown:
        parser.error(f"no such module in csrgate.domain: {', '.join(unknown)}")
    started = time.monotonic()
    prepare()
    if run_mutmut(modules):
        return 1  # mutmut said why: the tier failed without mutants, or no test failed with a broken one
    passed = report(statuses(modules))
    print(f"\nmutation testing took {time.monotonic() - started:.0f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
