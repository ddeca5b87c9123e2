"""The forwarder's settings: what it needs, what it assumes, and a one-line refusal naming each bad variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from csrgate.forwarder.config import ConfigError, load_config, managed_signers

KEY = "9f" * 32  # what `openssl rand -hex 32` prints


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "hmac-key"
    path.write_text(KEY + "\n")
    return path


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
    return path


@pytest.fixture
def env(key_file: Path, kubeconfig: Path) -> dict[str, str]:
    return {
        "CSRGATE_API_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com",
        "CSRGATE_CLUSTER": "lab",
        "CSRGATE_AUTH": "hmac",
        "CSRGATE_HMAC_KEY_FILE": str(key_file),
        "KUBECONFIG": str(kubeconfig),
    }


def test_the_defaults_send_the_managed_signers_with_modest_limits(env: dict[str, str]) -> None:
    config = load_config(env)

    assert config.events_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/hmac/csr-events"
    assert config.signers == {
        "kubernetes.io/kube-apiserver-client",
        "kubernetes.io/kubelet-serving",
        "beta.eks.amazonaws.com/app-serving",
    }
    assert config.signers == managed_signers()
    assert (config.queue_size, config.senders, config.request_timeout) == (1000, 4, 10.0)
    assert (config.retry_base, config.retry_cap, config.watch_timeout, config.drain_seconds) == (0.5, 60.0, 300, 20.0)
    assert (config.http_address, config.http_port, config.log_level) == ("0.0.0.0", 8080, "INFO")
    assert config.heartbeat_seconds == 300
    assert config.kube.kubeconfig is not None and not config.kube.in_cluster


def test_iam_posts_to_the_iam_route_and_takes_the_region_from_the_api_host(env: dict[str, str]) -> None:
    env.update(CSRGATE_AUTH="iam", CSRGATE_API_URL="https://abc123.execute-api.eu-west-1.amazonaws.com/")
    del env["CSRGATE_HMAC_KEY_FILE"]

    config = load_config(env)

    assert config.events_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/v1/csr-events"
    assert config.aws_region == "eu-west-1"
    assert config.hmac_key_file is None


@pytest.mark.parametrize("variable", ["CSRGATE_AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_region_variable_wins_over_the_host_for_custom_domains(env: dict[str, str], variable: str) -> None:
    env.update(CSRGATE_AUTH="iam", CSRGATE_API_URL="https://csrgate.example.com/prod", **{variable: "us-east-2"})

    config = load_config(env)

    assert config.aws_region == "us-east-2"
    assert config.events_url == "https://csrgate.example.com/prod/v1/csr-events"


def test_in_a_pod_the_service_account_is_used(env: dict[str, str]) -> None:
    del env["KUBECONFIG"]
    env.update(KUBERNETES_SERVICE_HOST="10.0.0.1", KUBERNETES_SERVICE_PORT="443")

    assert load_config(env).kube.in_cluster


def test_signers_can_be_listed_or_all(env: dict[str, str]) -> None:
    env["CSRGATE_SIGNERS"] = "example.com/serving, kubernetes.io/kube-apiserver-client"
    assert load_config(env).signers == {"example.com/serving", "kubernetes.io/kube-apiserver-client"}

    env["CSRGATE_SIGNERS"] = "*"
    assert load_config(env).signers is None


@pytest.mark.parametrize(("value", "seconds"), [("0", 0), ("10", 10), ("450", 450), (" 60 ", 60)])
def test_heartbeats_are_off_with_0_or_every_10_to_450_seconds(env: dict[str, str], value: str, seconds: int) -> None:
    env["CSRGATE_HEARTBEAT_SECONDS"] = value

    assert load_config(env).heartbeat_seconds == seconds


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"CSRGATE_API_URL": ""}, "CSRGATE_API_URL is required"),
        ({"CSRGATE_API_URL": "abc123.execute-api.eu-west-1.amazonaws.com"}, "CSRGATE_API_URL"),
        ({"CSRGATE_API_URL": "http://csrgate.example.com"}, "CSRGATE_API_URL must use https"),
        ({"CSRGATE_API_URL": "https://csrgate.example.com/?stage=x"}, "CSRGATE_API_URL"),
        ({"CSRGATE_CLUSTER": ""}, "CSRGATE_CLUSTER is required"),
        ({"CSRGATE_CLUSTER": "Prod_EU"}, "CSRGATE_CLUSTER"),
        ({"CSRGATE_AUTH": ""}, "CSRGATE_AUTH is required"),
        ({"CSRGATE_AUTH": "sigv4"}, "CSRGATE_AUTH must be iam or hmac"),
        ({"CSRGATE_HMAC_KEY_FILE": ""}, "CSRGATE_HMAC_KEY_FILE is required"),
        ({"CSRGATE_HMAC_KEY_FILE": "/nonexistent/key"}, "CSRGATE_HMAC_KEY_FILE"),
        ({"CSRGATE_HMAC_KEY": KEY}, "CSRGATE_HMAC_KEY is not read"),
        ({"CSRGATE_SIGNERS": "not a signer"}, "CSRGATE_SIGNERS"),
        ({"CSRGATE_SIGNERS": " , "}, "CSRGATE_SIGNERS"),
        ({"CSRGATE_QUEUE_SIZE": "0"}, "CSRGATE_QUEUE_SIZE must be a whole number from 1 to 100000"),
        ({"CSRGATE_QUEUE_SIZE": "ten"}, "CSRGATE_QUEUE_SIZE"),
        ({"CSRGATE_SENDERS": "65"}, "CSRGATE_SENDERS"),
        ({"CSRGATE_REQUEST_TIMEOUT_SECONDS": "nan"}, "CSRGATE_REQUEST_TIMEOUT_SECONDS"),
        ({"CSRGATE_REQUEST_TIMEOUT_SECONDS": "-1"}, "CSRGATE_REQUEST_TIMEOUT_SECONDS"),
        ({"CSRGATE_RETRY_BASE_SECONDS": "0"}, "CSRGATE_RETRY_BASE_SECONDS"),
        ({"CSRGATE_RETRY_MAX_SECONDS": "inf"}, "CSRGATE_RETRY_MAX_SECONDS"),
        ({"CSRGATE_WATCH_TIMEOUT_SECONDS": "1.5"}, "CSRGATE_WATCH_TIMEOUT_SECONDS"),
        ({"CSRGATE_DRAIN_SECONDS": "-2"}, "CSRGATE_DRAIN_SECONDS"),
        ({"CSRGATE_HTTP_PORT": "70000"}, "CSRGATE_HTTP_PORT"),
        ({"CSRGATE_LOG_LEVEL": "chatty"}, "CSRGATE_LOG_LEVEL"),
        (
            {"CSRGATE_HEARTBEAT_SECONDS": "5"},
            r"CSRGATE_HEARTBEAT_SECONDS must be 0 \(off\) or a whole number from 10 to 450",
        ),
        ({"CSRGATE_HEARTBEAT_SECONDS": "451"}, "CSRGATE_HEARTBEAT_SECONDS"),
        ({"CSRGATE_HEARTBEAT_SECONDS": "-1"}, "CSRGATE_HEARTBEAT_SECONDS"),
        ({"CSRGATE_HEARTBEAT_SECONDS": "1.5"}, "CSRGATE_HEARTBEAT_SECONDS"),
        ({"CSRGATE_HEARTBEAT_SECONDS": "5m"}, "CSRGATE_HEARTBEAT_SECONDS"),
        ({"KUBECONFIG": "/nonexistent/kubeconfig"}, "KUBECONFIG"),
        ({"KUBECONFIG": "/a:/b"}, "KUBECONFIG must name one file"),
        ({"KUBECONFIG": ""}, "KUBECONFIG is required outside a cluster"),
        ({"CSRGATE_AUTH": "iam", "AWS_REGION": "Ireland"}, "AWS_REGION"),
    ],
)
def test_a_bad_setting_is_refused_by_name(env: dict[str, str], change: dict[str, str], named: str) -> None:
    env.update(change)

    with pytest.raises(ConfigError, match=named):
        load_config(env)


def test_iam_with_a_custom_domain_and_no_region_names_the_variable(env: dict[str, str]) -> None:
    env.update(CSRGATE_AUTH="iam", CSRGATE_API_URL="https://csrgate.example.com")

    with pytest.raises(ConfigError, match="CSRGATE_AWS_REGION is required"):
        load_config(env)


def test_a_short_key_is_refused_without_showing_it(env: dict[str, str], key_file: Path) -> None:
    key_file.write_text("short-secret\n")

    with pytest.raises(ConfigError, match="fewer than 32 characters") as refused:
        load_config(env)

    assert "short-secret" not in str(refused.value)


def test_plain_http_is_allowed_to_a_receiver_on_the_same_machine(env: dict[str, str]) -> None:
    env["CSRGATE_API_URL"] = "http://127.0.0.1:8000"

    assert load_config(env).events_url == "http://127.0.0.1:8000/v1/hmac/csr-events"


def test_the_command_exits_2_with_one_line_naming_the_variable(env: dict[str, str]) -> None:
    env["CSRGATE_QUEUE_SIZE"] = "lots"

    result = subprocess.run(
        [sys.executable, "-m", "csrgate.forwarder"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "csrgate forward: CSRGATE_QUEUE_SIZE must be a whole number from 1 to 100000, not 'lots'"
    ]


def test_a_kubeconfig_the_client_cannot_use_exits_2_naming_it(env: dict[str, str], kubeconfig: Path) -> None:
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\n")

    result = subprocess.run(
        [sys.executable, "-m", "csrgate.forwarder"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"csrgate forward: KUBECONFIG '{kubeconfig}' cannot be used")
