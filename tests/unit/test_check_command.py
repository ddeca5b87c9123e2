"""`csrgate check` as people and scripts use it: verdicts, exit status, and one clear line when input is bad."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from csrgate.cli import main
from devstack.csrs import make_csr, private_key

FIXTURES = Path(__file__).parent.parent / "fixtures"
DOCS_MANIFEST = str(FIXTURES / "docs-myuser.yaml")
CSRGATE = Path(sys.executable).parent / "csrgate"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_docs_manifest_is_shown_and_goes_to_review(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "check", DOCS_MANIFEST)
    assert status == 0
    assert err == ""
    assert "user (CN):     angela" in out
    assert "lifetime:      1 day" in out
    assert out.rstrip().endswith("verdict:       review")


def test_json_output_has_verdict_findings_and_the_decoded_request(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "check", "--cluster-kind", "eks", "--output", "json", DOCS_MANIFEST)
    report = json.loads(out)
    assert status == 1
    assert report["verdict"] == "deny"
    assert report["findings"] == [
        {"code": "signer-unsupported-on-eks", "severity": "error", "message": report["findings"][0]["message"]}
    ]
    assert report["request"]["subject"]["commonName"] == "angela"
    assert report["request"]["publicKey"] == {"type": "RSA", "bits": 2048, "curve": None}
    assert report["request"]["signatureValid"] is True


def test_flags_override_the_manifest(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys, "check", "--output", "json", "--usage", "server auth", "--expiration-seconds", "99999999", DOCS_MANIFEST
    )
    report = json.loads(out)
    assert status == 1
    assert [finding["code"] for finding in report["findings"]] == [
        "usage-not-allowed",
        "missing-usage",
        "expiration-too-long",
    ]
    assert report["request"]["usages"] == ["server auth"]


def test_username_and_groups_flags_feed_the_node_checks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csr_file = tmp_path / "node.csr"
    csr_file.write_bytes(
        make_csr("system:node:worker-1", orgs=["system:nodes"], dns=["worker-1"], ips=["10.1.2.3"], key="p256")
    )
    common = ["check", "--signer", "kubernetes.io/kubelet-serving", "--usage", "digital signature"]
    common += ["--usage", "server auth", "--output", "json", str(csr_file)]
    unknown = json.loads(run(capsys, *common)[1])
    own = json.loads(run(capsys, *common, "--username", "system:node:worker-1", "--group", "system:nodes")[1])
    other = json.loads(run(capsys, *common, "--username", "system:node:worker-2")[1])
    assert (unknown["verdict"], own["verdict"], other["verdict"]) == ("review", "approve", "deny")
    assert own["request"]["groups"] == ["system:nodes"]


def test_standard_input_is_read_with_a_dash(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(DOCS_MANIFEST).read_bytes())))
    status, out, _ = run(capsys, "check", "-")
    assert status == 0 and "angela" in out


def test_a_bare_pem_says_which_signer_was_assumed(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csr_file = tmp_path / "alice.csr"
    csr_file.write_bytes(make_csr("alice"))
    status, out, _ = run(capsys, "check", "--usage", "client auth", str(csr_file))
    assert status == 1  # no expirationSeconds
    assert "kubernetes.io/kube-apiserver-client (assumed" in out
    assert "expiration-unset" in out


def test_requester_text_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    csr_file = tmp_path / "evil.csr"
    csr_file.write_bytes(make_csr("alice\x1b]0;pwned\x07\u202e", orgs=["dev\r\nverdict: approve"]))
    _, out, _ = run(capsys, "check", "--usage", "client auth", "--expiration-seconds", "600", str(csr_file))
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out and "\r" not in out
    assert "alice\\x1b]0;pwned\\x07\\u202e" in out
    assert [line for line in out.splitlines() if line.startswith("verdict:")] == ["verdict:       deny"]
    assert "dev\\r\\nverdict: approve" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"hello", "not a CSR"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "expected a CERTIFICATE REQUEST"),
        (b"\xff\xfe\x00", "not text"),
        (b"x" * 300_000, "larger than 256 KiB"),
    ],
)
def test_unusable_input_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, message: str
) -> None:
    bad = tmp_path / "input"
    bad.write_bytes(content)
    status, out, err = run(capsys, "check", str(bad))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("csrgate: error: ")
    assert message in err


def test_a_private_key_is_refused_with_advice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    key_file = tmp_path / "alice.key"
    key_file.write_bytes(
        private_key("rsa2048").private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    status, _, err = run(capsys, "check", str(key_file))
    assert status == 2
    assert "RSA PRIVATE KEY" in err and "must never leave your machine" in err
    assert "MII" not in err  # no key material echoed


@pytest.mark.parametrize("target", ["missing.csr", "."])
def test_unreadable_files_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, target: str) -> None:
    status, _, err = run(capsys, "check", str(tmp_path / target))
    assert status == 2
    assert err.startswith("csrgate: error: ") and err.count("\n") == 1


def test_a_bad_policy_file_exits_2_naming_the_key(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("signers:\n  kubernetes.io/kube-apiserver-client:\n    maxExpiration: 3600\n")
    status, out, err = run(capsys, "check", "--policy", str(policy), DOCS_MANIFEST)
    assert status == 2 and out == ""
    assert 'signers."kubernetes.io/kube-apiserver-client".maxExpiration: unknown key' in err


def test_a_policy_file_changes_the_verdict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("signers:\n  kubernetes.io/kube-apiserver-client:\n    maxExpirationSeconds: 3600\n")
    status, out, _ = run(capsys, "check", "--policy", str(policy), DOCS_MANIFEST)
    assert status == 1
    assert "expiration-too-long" in out and "1 hour" in out


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["check", "--expiration-seconds", "a day", DOCS_MANIFEST],
        ["check", "--cluster-kind", "gke", DOCS_MANIFEST],
        ["check", "--output", "xml", DOCS_MANIFEST],
        ["frobnicate"],
    ],
)
def test_bad_command_lines_exit_2_with_usage(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(args)
    assert raised.value.code == 2
    assert "usage: csrgate" in capsys.readouterr().err


def test_a_bug_is_reported_in_one_line_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_evaluate(*_: object, **__: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("csrgate.cli.evaluate", broken_evaluate)
    status, out, err = run(capsys, "check", DOCS_MANIFEST)
    assert status == 2 and out == ""
    assert err.startswith("csrgate: error: unexpected RuntimeError; this is a bug in csrgate")
    assert err.count("\n") == 1 and "Traceback" not in err


# --- the installed command on CSRs made with openssl, as a user would make them -----------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def csrgate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CSRGATE), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_openssl_made_client_csr_follows_the_docs_task(tmp_path: Path) -> None:
    # GIVEN the docs' steps: a key and a CSR for myuser
    openssl("genrsa", "-out", "myuser.key", "3072", cwd=tmp_path)
    openssl("req", "-new", "-key", "myuser.key", "-out", "myuser.csr", "-subj", "/CN=myuser", cwd=tmp_path)
    # WHEN checked as the docs' manifest would ask
    result = csrgate("check", "--usage", "client auth", "--expiration-seconds", "86400", "myuser.csr", cwd=tmp_path)
    # THEN a person must review it
    assert result.returncode == 0, result.stderr
    assert "verdict:       review" in result.stdout


def test_openssl_made_admin_csr_is_denied(tmp_path: Path) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "admin.key", cwd=tmp_path)
    openssl("req", "-new", "-key", "admin.key", "-out", "admin.csr", "-subj", "/O=system:masters/CN=root", cwd=tmp_path)
    args = ["check", "--output", "json", "--usage", "client auth", "--expiration-seconds", "3600", "admin.csr"]
    result = csrgate(*args, cwd=tmp_path)
    assert result.returncode == 1
    assert [finding["code"] for finding in json.loads(result.stdout)["findings"]] == ["forbidden-group"]


def test_openssl_made_kubelet_csr_is_approved_for_its_node(tmp_path: Path) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "node.key", cwd=tmp_path)
    subject = ["-subj", "/O=system:nodes/CN=system:node:worker-1", "-addext", "subjectAltName=DNS:worker-1,IP:10.1.2.3"]
    openssl("req", "-new", "-key", "node.key", "-out", "node.csr", *subject, cwd=tmp_path)
    args = ["check", "--signer", "kubernetes.io/kubelet-serving", "--usage", "digital signature"]
    args += ["--usage", "server auth", "--username", "system:node:worker-1", "--group", "system:nodes", "node.csr"]
    result = csrgate(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "verdict:       approve" in result.stdout


def test_openssl_made_ed25519_csr_via_stdin(tmp_path: Path) -> None:
    openssl("genpkey", "-algorithm", "ed25519", "-out", "ed.key", cwd=tmp_path)
    openssl("req", "-new", "-key", "ed.key", "-out", "ed.csr", "-subj", "/CN=carol/O=sre", cwd=tmp_path)
    result = subprocess.run(
        [str(CSRGATE), "check", "--usage", "client auth", "--expiration-seconds", "3600", "--output", "json", "-"],
        input=(tmp_path / "ed.csr").read_text(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "review"
    assert report["request"]["publicKey"]["type"] == "Ed25519"
    assert report["request"]["subject"]["organizations"] == ["sre"]


def test_the_installed_command_prints_no_traceback_for_garbage(tmp_path: Path) -> None:
    (tmp_path / "garbage").write_bytes(bytes(range(256)) * 4)
    result = csrgate("check", "garbage", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.startswith("csrgate: error: ")


def test_forward_refuses_to_start_without_its_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable in [name for name in os.environ if name.startswith("CSRGATE_")] + ["KUBECONFIG"]:
        monkeypatch.delenv(variable, raising=False)
    assert main(["forward"]) == 2
    assert capsys.readouterr().err == "csrgate forward: CSRGATE_API_URL is required\n"
