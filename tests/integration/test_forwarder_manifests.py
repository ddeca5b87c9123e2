"""The forwarder's manifests as an operator uses them: rendered by the real kubectl's kustomize, checked field by
field against the Kubernetes API's schema, and holding what the issue asks (least privilege, a locked-down pod,
probes on the forwarder's port, settings the forwarder accepts)."""

from __future__ import annotations

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


def kubectl(*args: str, cwd: Path, kubeconfig: Path | None = None) -> subprocess.CompletedProcess[str]:
    """kubectl in `cwd`, with no cluster unless `kubeconfig` names one; its result whatever it is."""
    return Kubectl(cwd, kubeconfig)(*args, check=False)


def operator_overlay(tmp_path: Path, variant: str) -> Path:
    """The kustomization the docs tell an operator to write: our manifests, their image, URL and cluster."""
    copy = tmp_path / "csrgate-deploy"
    shutil.copytree(DEPLOY, copy)
    overlay = tmp_path / "prod-eu"
    overlay.mkdir()
    base = "../csrgate-deploy" + ("/hmac" if variant == "hmac" else "")
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "resources": [base],
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
        )
    )
    return overlay


def render(directory: Path, cwd: Path) -> list[dict[str, Any]]:
    rendered = kubectl("kustomize", str(directory), cwd=cwd)
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


@pytest.mark.parametrize("variant", ["iam", "hmac"])
def test_the_manifests_render_and_every_field_is_one_the_api_knows(tmp_path: Path, variant: str) -> None:
    documents = render(DEPLOY if variant == "iam" else DEPLOY / "hmac", tmp_path)
    documents += render(operator_overlay(tmp_path, variant), tmp_path)

    for document in documents:
        problems = schema_problems(document, f"V1{document['kind']}", document["kind"])
        assert problems == []
        # The client's models also refuse objects that miss a required field.
        client.ApiClient().deserialize(_Raw(document), f"V1{document['kind']}")


class _Raw:
    def __init__(self, document: dict[str, Any]) -> None:
        self.data = json.dumps(document)


def test_the_forwarder_may_only_read_csrs(tmp_path: Path) -> None:
    kinds = by_kind(render(DEPLOY, tmp_path))

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
    assert {"Role", "RoleBinding", "Secret"}.isdisjoint(kinds)


def test_the_pod_is_locked_down_probed_and_sized(tmp_path: Path) -> None:
    kinds = by_kind(render(DEPLOY, tmp_path))
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


@pytest.mark.parametrize("variant", ["iam", "hmac"])
def test_the_settings_an_operator_renders_are_ones_the_forwarder_starts_with(tmp_path: Path, variant: str) -> None:
    kinds = by_kind(render(operator_overlay(tmp_path, variant), tmp_path))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    settings = dict(kinds["ConfigMap"]["data"])
    assert container["envFrom"] == [{"configMapRef": {"name": kinds["ConfigMap"]["metadata"]["name"]}}]
    assert container["image"] == f"{IMAGE}:0.1.0"
    if variant == "hmac":
        # Where the Secret is mounted is where the forwarder reads the key: stand in a key file for it.
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "hmac-key"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "hmac-key"]
        assert volume["secret"]["secretName"] == "csrgate-forwarder-hmac"
        assert settings["CSRGATE_HMAC_KEY_FILE"] == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"
        key = tmp_path / "hmac-key"
        key.write_text("ab" * 32)
        settings["CSRGATE_HMAC_KEY_FILE"] = str(key)

    config = load_config({**settings, "KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})

    assert config.auth == variant
    assert config.events_url.endswith("/v1/hmac/csr-events" if variant == "hmac" else "/v1/csr-events")
    assert config.kube.in_cluster
    assert config.aws_region == ("eu-west-1" if variant == "iam" else None)


@pytest.mark.parametrize("variant", ["iam", "hmac"])
def test_kubectl_apply_dry_run_accepts_the_rendered_manifests(
    tmp_path: Path, dev_cluster: DevCluster, variant: str
) -> None:
    # kubectl apply needs a server even for a client dry run: it maps each kind through discovery and
    # validates against the server's OpenAPI. The dev cluster serves certificates.k8s.io only so far; until it
    # serves the kinds below, the schema test above checks every field against the same OpenAPI's models.
    served = set(kubectl("api-versions", cwd=tmp_path, kubeconfig=dev_cluster.admin_kubeconfig).stdout.split())
    missing = {"v1", "apps/v1", "rbac.authorization.k8s.io/v1"} - served
    if missing:
        pytest.skip(f"the dev cluster serves no {', '.join(sorted(missing))} for kubectl apply to map kinds with")
    rendered = kubectl("kustomize", str(operator_overlay(tmp_path, variant)), cwd=tmp_path)
    (tmp_path / "rendered.yaml").write_text(rendered.stdout)

    applied = kubectl(
        "apply", "--dry-run=client", "-f", "rendered.yaml", cwd=tmp_path, kubeconfig=dev_cluster.admin_kubeconfig
    )

    assert applied.returncode == 0, applied.stderr
    assert "deployment.apps/csrgate-forwarder created (dry run)" in applied.stdout
