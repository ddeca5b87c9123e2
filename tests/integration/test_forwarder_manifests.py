"""The forwarder's manifests as an operator uses them: every directory we ship and the kustomizations the docs tell an
operator to write, rendered by the real kubectl's kustomize, checked field by field against the Kubernetes API's
schema, and holding what the issue asks: least privilege, a locked-down pod, a network policy that reaches only DNS,
the API server and csrgate's API, a ServiceMonitor on the metrics port, an image that must be set, and settings the
forwarder accepts."""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from csrgate.forwarder.config import load_config
from devstack.cluster import DevCluster
from devstack.harness import Kubectl

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "forwarder" / "deploy"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/csrgate-forwarder"
PLACEHOLDER = "csrgate-forwarder:set-me-with-kustomize-edit-set-image"
# What we ship, and what an operator writes over it: "operator/<overlay>[+servicemonitor]".
SHIPPED = ["base", "iam", "hmac", "examples/eks-irsa"]
OPERATORS = ["operator/iam", "operator/hmac", "operator/iam+servicemonitor", "operator/hmac+servicemonitor"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def kubectl(*args: str, cwd: Path, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl in `cwd`, with no cluster unless `kubeconfig` names one; its result whatever it is."""
    return Kubectl(cwd, kubeconfig)(*args, check=False)


def layout(tmp_path: Path, name: str) -> Path:
    """A directory we ship, or the kustomization the docs tell an operator to write over one of our overlays: our
    manifests (a copy, as a checkout elsewhere would be), their image, URL and cluster, and the components asked."""
    if not name.startswith("operator/"):
        return DEPLOY / name
    overlay, *components = name.removeprefix("operator/").split("+")
    copy = tmp_path / "csrgate-deploy"
    if not copy.exists():
        shutil.copytree(DEPLOY, copy)
    mine = tmp_path / name.replace("/", "-").replace("+", "-")
    mine.mkdir()
    kustomization = {
        "resources": [f"../csrgate-deploy/{overlay}"],
        "components": [f"../csrgate-deploy/{component}" for component in components],
        "images": [{"name": "csrgate-forwarder", "newName": IMAGE, "newTag": "0.1.0"}],
        "configMapGenerator": [
            {
                "name": "csrgate-forwarder",
                "behavior": "merge",
                "literals": [
                    "CSRGATE_API_URL=https://abc123.execute-api.eu-west-1.amazonaws.com",
                    "CSRGATE_CLUSTER=prod-eu",
                ],
            }
        ],
    }
    (mine / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return mine


def render(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    rendered = kubectl("kustomize", str(layout(tmp_path, name)), cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


def by_kind(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [document["kind"] for document in documents]
    assert len(kinds) == len(set(kinds)), kinds
    return {document["kind"]: document for document in documents}


def schema_problems(value: Any, type_name: str, path: str = "") -> list[str]:
    """Fields the Kubernetes API does not know, or of the wrong type, judged by the official client's models
    (generated from the API server's OpenAPI document)."""
    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            problem
            for n, item in enumerate(value)
            for problem in schema_problems(item, type_name[5:-1], f"{path}[{n}]")
        ]
    if type_name.startswith("dict("):
        inner = type_name[type_name.index(",") + 1 : -1].strip()
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [problem for key, item in value.items() for problem in schema_problems(item, inner, f"{path}.{key}")]
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float), "datetime": str, "date": str}
    if type_name in simple:
        ok = isinstance(value, simple[type_name]) and not (type_name == "int" and isinstance(value, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {value!r}"]
    if type_name == "object":
        return []
    model = getattr(client.models, type_name)
    if not isinstance(value, dict):
        return [f"{path}: expected a {type_name} mapping"]
    fields = {json_name: attribute for attribute, json_name in model.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: unknown field of {type_name}")
        else:
            problems += schema_problems(item, model.openapi_types[fields[key]], f"{path}.{key}")
    return problems


class _Raw:
    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


@pytest.mark.parametrize("name", SHIPPED + OPERATORS)
def test_each_renders_into_the_csrgate_namespace_with_fields_the_api_knows(tmp_path: Path, name: str) -> None:
    documents = render(tmp_path, name)

    for document in documents:
        kind = document["kind"]
        if kind not in CLUSTER_SCOPED:
            assert document["metadata"]["namespace"] == "csrgate", kind
        if kind == "ServiceMonitor":  # a custom resource: test_the_service_monitor_scrapes_the_forwarders_metrics
            continue
        assert schema_problems(document, f"V1{kind}", kind) == []
        # The client's models also refuse objects that miss a required field.
        client.ApiClient().deserialize(_Raw(document), f"V1{kind}")


@pytest.mark.parametrize("name", SHIPPED + OPERATORS)
def test_the_forwarder_may_only_read_csrs(tmp_path: Path, name: str) -> None:
    kinds = by_kind(render(tmp_path, name))

    assert kinds["ClusterRole"]["rules"] == [
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests"],
            "verbs": ["get", "list", "watch"],
        }
    ]
    binding = kinds["ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "csrgate-forwarder",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "csrgate-forwarder", "namespace": "csrgate"}]
    assert kinds["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == "csrgate-forwarder"
    assert {"Role", "RoleBinding", "Secret"}.isdisjoint(kinds)


@pytest.mark.parametrize("name", ["base", "iam", "hmac"])
def test_until_the_operator_names_an_image_the_pod_names_one_that_tells_them_to(tmp_path: Path, name: str) -> None:
    [container] = by_kind(render(tmp_path, name))["Deployment"]["spec"]["template"]["spec"]["containers"]

    # No registry serves this tag; the kubelet's ErrImagePull event shows it, and with it what to do.
    assert container["image"] == PLACEHOLDER


def test_the_pod_is_locked_down_probed_and_sized(tmp_path: Path) -> None:
    kinds = by_kind(render(tmp_path, "iam"))
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert deployment["spec"]["replicas"] == 1
    assert pod["serviceAccountName"] == kinds["ServiceAccount"]["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["resources"]["limits"]["memory"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    settings = kinds["ConfigMap"]["data"]
    assert container["ports"] == [
        {"name": "http", "containerPort": int(settings["CSRGATE_HTTP_PORT"]), "protocol": "TCP"}
    ]
    assert pod["terminationGracePeriodSeconds"] > float(settings["CSRGATE_DRAIN_SECONDS"])
    assert kinds["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize(
    ("name", "auth"), [("operator/iam", "iam"), ("operator/hmac", "hmac"), ("examples/eks-irsa", "iam")]
)
def test_the_settings_an_operator_renders_are_ones_the_forwarder_starts_with(
    tmp_path: Path, name: str, auth: str
) -> None:
    kinds = by_kind(render(tmp_path, name))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    settings = dict(kinds["ConfigMap"]["data"])
    assert container["envFrom"] == [{"configMapRef": {"name": kinds["ConfigMap"]["metadata"]["name"]}}]
    assert container["image"] == f"{IMAGE}:0.1.0"
    if auth == "hmac":
        # Where the Secret is mounted is where the forwarder reads the key: stand in a key file for it.
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "hmac-key"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "hmac-key"]
        assert volume["secret"]["secretName"] == "csrgate-forwarder-hmac"
        assert settings["CSRGATE_HMAC_KEY_FILE"] == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"
        key = tmp_path / "hmac-key"
        key.write_text("ab" * 32)
        settings["CSRGATE_HMAC_KEY_FILE"] = str(key)

    config = load_config({**settings, "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})

    assert config.auth == auth
    assert config.events_url.endswith("/v1/hmac/csr-events" if auth == "hmac" else "/v1/csr-events")
    assert config.kube.in_cluster
    assert config.aws_region == ("eu-west-1" if auth == "iam" else None)
    assert config.heartbeat_seconds == 300


def reachable(policy: dict[str, Any], address: str, port: int) -> bool:
    """Whether a NetworkPolicy's egress rules let its pods open a TCP connection to `address:port` outside the
    cluster's pods (ipBlock peers), as the NetworkPolicy API defines: a rule allows when a peer and a port match."""
    ip = ipaddress.ip_address(address)

    def in_block(block: dict[str, Any]) -> bool:
        network = ipaddress.ip_network(block["cidr"])
        excepted = [ipaddress.ip_network(cidr) for cidr in block.get("except", [])]
        return ip.version == network.version and ip in network and not any(ip in ex for ex in excepted)

    for rule in policy["spec"]["egress"]:
        to_peer = "to" not in rule or any(in_block(peer["ipBlock"]) for peer in rule["to"] if "ipBlock" in peer)
        on_port = "ports" not in rule or any(
            entry.get("protocol", "TCP") == "TCP" and entry.get("port") == port for entry in rule["ports"]
        )
        if to_peer and on_port:
            return True
    return False


# (address, port, what it is, reachable with iam, with hmac)
DESTINATIONS = [
    ("10.100.0.1", 443, "the EKS API server's endpoint in the VPC", True, True),
    ("192.168.49.2", 6443, "a kubeadm API server", True, True),
    ("3.5.140.2", 443, "csrgate's API (execute-api) or STS", True, True),
    ("3.5.140.2", 80, "plain HTTP to the internet", False, False),
    ("8.8.8.8", 53, "a DNS server outside the cluster", False, False),
    ("10.0.3.4", 5432, "a database in the VPC", False, False),
    ("169.254.169.254", 80, "the node's instance metadata (the node's role)", False, False),
    ("169.254.170.23", 80, "the EKS Pod Identity agent", True, False),
    ("100.64.7.9", 443, "a pod under EKS custom networking", False, False),
]


@pytest.mark.parametrize(("name", "auth"), [("iam", "iam"), ("hmac", "hmac"), ("examples/eks-irsa", "iam")])
def test_the_network_policy_lets_the_forwarder_reach_dns_the_api_server_and_csrgates_api_only(
    tmp_path: Path, name: str, auth: str
) -> None:
    kinds = by_kind(render(tmp_path, name))
    policy, pod = kinds["NetworkPolicy"], kinds["Deployment"]["spec"]["template"]

    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    # in: only the port of the probes and /metrics
    assert policy["spec"]["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    # out: DNS only to the cluster's DNS pods
    [dns] = [rule for rule in policy["spec"]["egress"] if {"port": 53, "protocol": "UDP"} in rule["ports"]]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert all("ports" in rule and rule.get("to") for rule in policy["spec"]["egress"])  # no rule allows all
    reaches = {what: reachable(policy, address, port) for address, port, what, *_ in DESTINATIONS}
    expected = {what: iam if auth == "iam" else hmac for _, _, what, iam, hmac in DESTINATIONS}
    assert reaches == expected


@pytest.mark.parametrize("name", ["operator/iam+servicemonitor", "operator/hmac+servicemonitor", "examples/eks-irsa"])
def test_the_service_monitor_scrapes_the_forwarders_metrics_port(tmp_path: Path, name: str) -> None:
    kinds = by_kind(render(tmp_path, name))
    service, monitor, policy = kinds["Service"], kinds["ServiceMonitor"], kinds["NetworkPolicy"]
    pod = kinds["Deployment"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    [port] = service["spec"]["ports"]

    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    # the Service selects the forwarder's pod and its metrics port
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [target] = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    assert target["containerPort"] == int(kinds["ConfigMap"]["data"]["CSRGATE_HTTP_PORT"])
    # the ServiceMonitor selects that Service (and no other csrgate Service) and scrapes /metrics on that port
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "app.kubernetes.io/component" in monitor["spec"]["selector"]["matchLabels"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    assert monitor["spec"]["endpoints"] == [
        {"port": port["name"], "path": "/metrics", "scheme": "http", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    # and the network policy lets Prometheus in on it
    assert {"port": port["targetPort"], "protocol": "TCP"} in policy["spec"]["ingress"][0]["ports"]


def test_the_irsa_example_gives_the_forwarders_service_account_its_role(tmp_path: Path) -> None:
    example = by_kind(render(tmp_path, "examples/eks-irsa"))
    pod_identity = by_kind(render(tmp_path, "iam"))

    account = example["ServiceAccount"]
    assert example["Deployment"]["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/csrgate-forwarder"
    }
    # Without the patch, nothing points the SDK at IRSA, so an EKS Pod Identity association is what it finds.
    assert "annotations" not in pod_identity["ServiceAccount"]["metadata"]


@pytest.mark.parametrize("name", ["operator/iam", "operator/hmac"])
def test_kubectl_apply_dry_run_accepts_the_rendered_manifests(
    tmp_path: Path, dev_cluster: DevCluster, name: str
) -> None:
    # kubectl apply needs a server even for a client dry run: it maps each kind through discovery and
    # validates against the server's OpenAPI. The dev cluster serves certificates.k8s.io only so far; until it
    # serves the kinds below, the schema test above checks every field against the same OpenAPI's models.
    served = set(kubectl("api-versions", cwd=tmp_path, kubeconfig=dev_cluster.admin_kubeconfig).stdout.split())
    missing = {"v1", "apps/v1", "rbac.authorization.k8s.io/v1", "networking.k8s.io/v1"} - served
    if missing:
        pytest.skip(f"the dev cluster serves no {', '.join(sorted(missing))} for kubectl apply to map kinds with")
    rendered = kubectl("kustomize", str(layout(tmp_path, name)), cwd=tmp_path)
    (tmp_path / "rendered.yaml").write_text(rendered.stdout)

    applied = kubectl(
        "apply", "--dry-run=client", "-f", "rendered.yaml", cwd=tmp_path, kubeconfig=dev_cluster.admin_kubeconfig
    )

    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/csrgate-forwarder created (dry run)" in applied.stdout
