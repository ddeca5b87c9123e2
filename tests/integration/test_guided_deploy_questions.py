"""README's first deploy lists the questions `sam deploy --guided` really asks, in its order, with its defaults: the
SAM CLI the Makefile installs is run on a copy of template.yaml and samconfig.toml, answering each question with its
default, until it looks for AWS credentials, which it is given none of (nor a real region), so nothing is deployed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv" / "sam" / "bin" / "sam"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PROMPT = re.compile(r"([A-Z][^\t\n:#]*? \[[^\]\n]*\]): ")


def readme_questions() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### A first deploy") : readme.index("### The dashboard and the saved queries")]
    return re.findall(r"^\d+\. `([^`]+)`", section, flags=re.MULTILINE)


def test_readme_lists_every_question_guided_asks_in_its_order(tmp_path: Path) -> None:
    if not SAM.exists():
        if IN_CI:
            pytest.fail(f"{SAM} is missing: make install")
        pytest.skip(f"{SAM} is missing: make install")
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # no credentials from anywhere: not the environment, files, a container or an instance
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {
        "HOME": str(tmp_path),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAM_CLI_TELEMETRY": "0",
    }
    questions = readme_questions()
    answers = ["" if not question.startswith("AWS Region") else "xx-nowhere-1" for question in questions]
    run = subprocess.run(
        [str(SAM), "deploy", "--guided"],
        cwd=tmp_path,
        env=environment,
        input="\n".join(answers) + "\n" * 5,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = _ANSI.sub("", run.stdout + run.stderr)
    asked = _PROMPT.findall(output)
    assert asked == questions, output
    assert "has no authentication" not in output  # the API declares Auth: README says why none is asked
    assert "Unable to locate credentials" in output, output  # it stopped where it would start to deploy
    assert run.returncode != 0
