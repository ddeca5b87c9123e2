"""`csrgate config`: a cluster's settings checked before they are stored, as csrgate reads them, and JSON Schemas for
editors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from csrgate.cli import main
from devstack.lab import CLUSTERS

LAB = yaml.safe_dump(CLUSTERS["lab"])


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_a_valid_cluster_document_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = tmp_path / "lab.yaml"
    document.write_text(LAB)
    status, out, _ = run(capsys, "config", "validate", str(document))
    assert status == 0 and "cluster lab (generic, hmac) is valid" in out and "{email_local}" in out


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"slackChannel": "general"}, "slackChannel"),
        ({"approvers": {}}, "approvers needs at least one user or group"),
        ({"selfService": {"usernameTemplate": "{email_local}"}}, "selfService: usernameTemplate {email_local}"),
        ({"hmacSecretId": "elsewhere/forwarders/lab"}, "hmacSecretId must be a secret under csrgate/forwarders/"),
        ({"colour": "blue"}, "colour: unknown key"),
    ],
)
def test_an_invalid_one_is_refused_naming_the_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, change: dict[str, object], named: str
) -> None:
    document = tmp_path / "lab.yaml"
    document.write_text(yaml.safe_dump({**CLUSTERS["lab"], **change}))
    status, out, err = run(capsys, "config", "validate", str(document))
    assert status == 1 and out == "" and named in err and err.count("\n") == 1


def test_the_stacks_secret_prefix_is_the_one_checked(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = tmp_path / "lab.yaml"
    document.write_text(LAB)
    status, _, err = run(capsys, "config", "validate", "--secret-prefix", "team-a", str(document))
    assert status == 1 and "team-a/forwarders/" in err


def test_a_file_that_cannot_be_read_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "config", "validate", str(tmp_path / "missing.yaml"))
    assert status == 2 and err.startswith("csrgate: error:")


def test_the_schemas_describe_what_csrgate_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "config", "schema", "cluster")
    schema = json.loads(out)
    assert status == 0 and "selfService" in schema["properties"]
    jsonschema.validate(CLUSTERS["lab"], schema)  # what csrgate accepts, the schema accepts
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**CLUSTERS["lab"], "colour": "blue"}, schema)
    status, out, _ = run(capsys, "config", "schema", "policy")
    assert status == 0 and "kubernetes.io/kube-apiserver-client" not in out and "onRenewal" in out
