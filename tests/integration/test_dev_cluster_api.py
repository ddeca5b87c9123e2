"""The dev cluster's API as kube-apiserver answers it: authentication, authorization, admission, validation,
concurrency, discovery and OpenAPI, tables, and hostile bodies (a 400 with a Status, never a crash)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from cluster_access import HttpAnswer, Identity, admin_identity, csr_manifest, https

from devstack.cluster import DevCluster
from devstack.csrs import make_csr
from devstack.harness import Kubectl

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
PROTOBUF = "application/vnd.kubernetes.protobuf"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def admin(dev_cluster: DevCluster, tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return admin_identity(dev_cluster, tmp_path_factory.mktemp("admin"))


def csr_body(name: str, **spec: object) -> bytes:
    return json.dumps(yaml.safe_load(csr_manifest(name, make_csr("alice"), **spec))).encode()


def create(cluster: DevCluster, admin: Identity, name: str, **spec: object) -> dict[str, object]:
    answer = https(cluster, "POST", CSRS, admin, csr_body(name, **spec))
    assert answer.code == 201, answer.body
    return dict(answer.json())


def assert_status(answer: HttpAnswer, code: int, reason: str) -> dict[str, object]:
    status = answer.json()
    assert (answer.code, status["kind"], status["status"], status["reason"], status["code"]) == (
        code, "Status", "Failure", reason, code,
    )  # fmt: skip
    return dict(status)


def test_requests_without_valid_credentials_get_401(dev_cluster: DevCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    config = yaml.safe_load(dev_cluster.approver_kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-a-token"
    (tmp_path / "wrong.kubeconfig").write_text(yaml.safe_dump(config))

    anonymous = https(dev_cluster, "GET", CSRS)
    wrong_token = https(dev_cluster, "GET", CSRS, Identity(token="not-a-token"))
    with_kubectl = kubectl("get", "csr", kubeconfig=tmp_path / "wrong.kubeconfig", check=False)
    health = https(dev_cluster, "GET", "/readyz")

    assert assert_status(anonymous, 401, "Unauthorized")["message"] == "Unauthorized"
    assert_status(wrong_token, 401, "Unauthorized")
    assert "error: You must be logged in to the server" in with_kubectl.stderr
    assert (health.code, health.body) == (200, b"ok")  # health checks stay open, as kube-apiserver allows them


def test_the_approver_may_read_approve_and_create_but_not_delete(
    dev_cluster: DevCluster, kubectl: Kubectl, name: str
) -> None:
    # csrgate's worker: it creates the CSRs of certificates asked for in Slack, and deletes none
    approver = dev_cluster.approver_kubeconfig
    kubectl("apply", "-f", "-", stdin=csr_manifest(f"{name}-ok", make_csr("alice")))

    created = kubectl("apply", "-f", "-", stdin=csr_manifest(name, make_csr("alice")), kubeconfig=approver, check=False)
    deleted = kubectl("delete", "csr", f"{name}-ok", kubeconfig=approver, check=False)
    approved = kubectl("certificate", "approve", f"{name}-ok", kubeconfig=approver)

    assert created.returncode == 0, created.stderr
    assert 'User "csrgate-approver" cannot delete resource "certificatesigningrequests"' in deleted.stderr
    assert approved.stdout.strip().endswith("approved")


def test_admission_refuses_a_client_certificate_for_system_masters(kubectl: Kubectl, name: str) -> None:
    manifest = csr_manifest(name, make_csr("root", orgs=["system:masters"]))

    refused = kubectl("apply", "-f", "-", stdin=manifest, check=False)

    assert refused.returncode == 1
    assert (
        f'certificatesigningrequests.certificates.k8s.io "{name}" is forbidden: use of '
        "kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed"
    ) in refused.stderr


def test_validation_errors_are_422_with_one_cause_per_field(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    body = csr_body(name, expirationSeconds=599, usages=["client auth", "client auth", "flying"], signerName="nodomain")

    answer = https(dev_cluster, "POST", CSRS, admin, body)

    status = assert_status(answer, 422, "Invalid")
    details = status["details"]
    assert isinstance(details, dict)
    assert (details["name"], details["group"], details["kind"]) == (
        name,
        "certificates.k8s.io",
        "CertificateSigningRequest",
    )
    assert [(cause["field"], cause["reason"]) for cause in details["causes"]] == [
        ("spec.usages[2]", "FieldValueNotSupported"),
        ("spec.usages[1]", "FieldValueDuplicate"),
        ("spec.signerName", "FieldValueInvalid"),
        ("spec.expirationSeconds", "FieldValueInvalid"),
    ]
    assert str(status["message"]).startswith(f'CertificateSigningRequest.certificates.k8s.io "{name}" is invalid: [')
    assert "spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds" in str(
        status["message"]
    )


def test_a_request_that_is_not_a_pem_csr_is_invalid(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    body = json.loads(csr_body(name))
    body["spec"]["request"] = base64.b64encode(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").decode()

    answer = https(dev_cluster, "POST", CSRS, admin, json.dumps(body).encode())

    status = assert_status(answer, 422, "Invalid")
    assert "spec.request: Invalid value: []byte{0x2d, 0x2d," in str(status["message"])
    assert str(status["message"]).endswith(": PEM block type must be CERTIFICATE REQUEST")


def test_kubectl_apply_validates_the_manifest_against_the_schema(kubectl: Kubectl, name: str) -> None:
    manifest = csr_manifest(name, make_csr("alice")).replace("usages:", "colour: blue\n  usages:")

    refused = kubectl("apply", "-f", "-", stdin=manifest, check=False)

    assert refused.returncode == 1
    assert 'strict decoding error: unknown field "spec.colour"' in refused.stderr


def test_the_server_sets_the_requester_and_clears_status_and_spec_is_immutable(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    body = json.loads(csr_body(name))
    body["spec"].update(username="system:admin", groups=["system:masters"])
    body["status"] = {"conditions": [{"type": "Approved", "status": "True"}]}
    created = https(dev_cluster, "POST", CSRS, admin, json.dumps(body).encode()).json()

    changed = dict(created, spec=dict(created["spec"], signerName="example.com/other", usages=["server auth"]))
    changed["metadata"] = dict(created["metadata"], labels={"team": "a"})
    updated = https(dev_cluster, "PUT", f"{CSRS}/{name}", admin, json.dumps(changed).encode()).json()

    assert created["spec"]["username"] == "csrgate-admin"
    assert created["spec"]["groups"] == ["system:masters", "system:authenticated"]
    assert created["status"] == {}
    assert updated["spec"] == created["spec"]  # the main resource changes metadata only, as upstream's strategy
    assert updated["metadata"]["labels"] == {"team": "a"}
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])


def test_a_write_with_a_stale_resource_version_is_a_409_conflict(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    read = create(dev_cluster, admin, name)
    https(dev_cluster, "PATCH", f"{CSRS}/{name}", admin, b'{"metadata":{"labels":{"a":"b"}}}', MERGE_PATCH)
    read["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Late"}]}

    answer = https(dev_cluster, "PUT", f"{CSRS}/{name}/approval", admin, json.dumps(read).encode())

    status = assert_status(answer, 409, "Conflict")
    assert status["message"] == (
        f'Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io "{name}": '
        "the object has been modified; please apply your changes to the latest version and try again"
    )


def test_conditions_cannot_be_removed_and_approved_and_denied_exclude_each_other(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    created = create(dev_cluster, admin, name, signerName="example.com/never-issued")
    approved = dict(created, status={"conditions": [{"type": "Approved", "status": "True", "reason": "Ok"}]})
    approved = https(dev_cluster, "PUT", f"{CSRS}/{name}/approval", admin, json.dumps(approved).encode()).json()

    both = dict(
        approved, status={"conditions": [*approved["status"]["conditions"], {"type": "Denied", "status": "True"}]}
    )
    removed = dict(approved, status={"conditions": []})
    both_answer = https(dev_cluster, "PUT", f"{CSRS}/{name}/approval", admin, json.dumps(both).encode())
    removed_answer = https(dev_cluster, "PUT", f"{CSRS}/{name}/approval", admin, json.dumps(removed).encode())

    assert approved["status"]["conditions"][0]["lastTransitionTime"]  # the server fills the timestamps
    assert "Approved and Denied conditions are mutually exclusive" in str(
        assert_status(both_answer, 422, "Invalid")["message"]
    )
    assert 'status.conditions: Forbidden: updates may not remove a condition of type "Approved"' in str(
        assert_status(removed_answer, 422, "Invalid")["message"]
    )


def test_status_updates_cannot_approve(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    created = create(dev_cluster, admin, name)
    sneaky = dict(created, status={"conditions": [{"type": "Approved", "status": "True", "reason": "Sneaky"}]})

    updated = https(dev_cluster, "PUT", f"{CSRS}/{name}/status", admin, json.dumps(sneaky).encode()).json()

    assert updated.get("status", {}).get("conditions") is None


def test_discovery_and_openapi_describe_csrs_as_kubectl_needs(dev_cluster: DevCluster, admin: Identity) -> None:
    resources = https(dev_cluster, "GET", "/apis/certificates.k8s.io/v1", admin).json()["resources"]
    authentication = https(dev_cluster, "GET", "/apis/authentication.k8s.io/v1", admin).json()["resources"]
    index = https(dev_cluster, "GET", "/openapi/v3", admin).json()
    document = https(
        dev_cluster, "GET", index["paths"]["apis/certificates.k8s.io/v1"]["serverRelativeURL"], admin
    ).json()
    v2 = https(dev_cluster, "GET", "/openapi/v2", admin, headers={"Accept": "application/json"}).json()

    assert [(r["name"], r.get("shortNames"), r["verbs"]) for r in resources] == [
        ("certificatesigningrequests", ["csr"],
         ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]),
        ("certificatesigningrequests/approval", None, ["get", "patch", "update"]),
        ("certificatesigningrequests/status", None, ["get", "patch", "update"]),
    ]  # fmt: skip
    assert [(r["name"], r["verbs"]) for r in authentication] == [("selfsubjectreviews", ["create"])]
    patch = document["paths"]["/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "certificates.k8s.io", "kind": "CertificateSigningRequest", "version": "v1",
    }  # fmt: skip
    assert "fieldValidation" in [parameter["name"] for parameter in patch["parameters"]]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    schema = document["components"]["schemas"]["io.k8s.api.certificates.v1.CertificateSigningRequestSpec"]
    assert schema["required"] == ["request", "signerName"]
    assert schema["properties"]["expirationSeconds"]["format"] == "int32"
    assert "io.k8s.api.certificates.v1.CertificateSigningRequest" in v2["definitions"]


def test_a_table_is_served_when_asked_for(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    create(dev_cluster, admin, name, expirationSeconds=None)

    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    table = https(dev_cluster, "GET", f"{CSRS}/{name}", admin, headers=accept).json()

    assert table["kind"] == "Table"
    assert [column["name"] for column in table["columnDefinitions"]] == [
        "Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition",
    ]  # fmt: skip
    assert table["rows"][0]["cells"][2:] == [
        "kubernetes.io/kube-apiserver-client",
        "csrgate-admin",
        "<none>",
        "Pending",
    ]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_lists_page_with_limit_and_continue(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    for index in range(3):
        create(dev_cluster, admin, f"{name}-{index}")
        label = json.dumps({"metadata": {"labels": {"page": name}}}).encode()
        https(dev_cluster, "PATCH", f"{CSRS}/{name}-{index}", admin, label, MERGE_PATCH)

    first = https(dev_cluster, "GET", f"{CSRS}?labelSelector=page%3D{name}&limit=2", admin).json()
    rest = https(
        dev_cluster,
        "GET",
        f"{CSRS}?labelSelector=page%3D{name}&limit=2&continue={first['metadata']['continue']}",
        admin,
    ).json()

    assert [item["metadata"]["name"] for item in first["items"]] == [f"{name}-0", f"{name}-1"]
    assert [item["metadata"]["name"] for item in rest["items"]] == [f"{name}-2"]
    assert "continue" not in rest["metadata"]


def test_delete_answers_a_success_status_and_the_csr_is_gone(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    created = create(dev_cluster, admin, name)

    deleted = https(dev_cluster, "DELETE", f"{CSRS}/{name}", admin, b'{"kind":"DeleteOptions","apiVersion":"v1"}')
    again = https(dev_cluster, "DELETE", f"{CSRS}/{name}", admin)

    assert deleted.json()["status"] == "Success"
    assert deleted.json()["details"]["uid"] == created["metadata"]["uid"]  # type: ignore[index]
    assert assert_status(again, 404, "NotFound")["message"] == (
        f'certificatesigningrequests.certificates.k8s.io "{name}" not found'
    )


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"kind": "CertificateSigningRequest", "spec": {"expirationSeconds": "a day"}}', "application/json"),
        (b'{"spec": {"request": "%%%not base64%%%"}}', "application/json"),
        (b'{"spec": {"usages": "client auth"}}', "application/json"),
        (b'{"spec": {"expirationSeconds": 1e99}}', "application/json"),
        (b'{"spec": {"expirationSeconds": NaN}}', "application/json"),
        (b'{"kind": "Pod", "apiVersion": "v1"}', "application/json"),
        (b"[" * 100_000, "application/json"),
        (b"k8s\x00\x0a\xff\xff\xff\xff\x0f", PROTOBUF),
        (b"k8s\x00\x12\x05abc", PROTOBUF),
        (b"not protobuf at all", PROTOBUF),
        (b"k8s\x00" + bytes(range(256)), PROTOBUF),
    ],
)
def test_hostile_bodies_get_400_with_a_status_and_the_server_keeps_serving(
    dev_cluster: DevCluster, admin: Identity, body: bytes, content_type: str
) -> None:
    answer = https(dev_cluster, "POST", CSRS, admin, body, {"Content-Type": content_type})

    assert_status(answer, 400, "BadRequest")
    assert https(dev_cluster, "GET", "/version", admin).code == 200


def test_bodies_the_server_does_not_read_get_415_and_413(dev_cluster: DevCluster, admin: Identity) -> None:
    yaml_body = https(dev_cluster, "POST", CSRS, admin, b"kind: x", {"Content-Type": "application/yaml"})
    huge = https(dev_cluster, "POST", CSRS, admin, b" " * (3 * 1024 * 1024 + 1))

    assert_status(yaml_body, 415, "UnsupportedMediaType")
    assert_status(huge, 413, "RequestEntityTooLarge")


def test_bad_query_parameters_and_unknown_paths(dev_cluster: DevCluster, admin: Identity) -> None:
    assert_status(https(dev_cluster, "GET", f"{CSRS}?fieldSelector=spec.usages%3Dx", admin), 400, "BadRequest")
    assert_status(https(dev_cluster, "GET", f"{CSRS}?watch=maybe", admin), 400, "BadRequest")
    assert_status(https(dev_cluster, "GET", f"{CSRS}?limit=ten", admin), 400, "BadRequest")
    assert_status(https(dev_cluster, "GET", "/apis/apps/v1/deployments", admin), 404, "NotFound")
    assert_status(https(dev_cluster, "GET", f"{CSRS}/a/exec", admin), 404, "NotFound")
    assert_status(https(dev_cluster, "POST", f"{CSRS}/a", admin, b"{}"), 405, "MethodNotAllowed")


def test_generate_name_dry_run_and_unknown_field_warnings(dev_cluster: DevCluster, admin: Identity, name: str) -> None:
    body = json.loads(csr_body(""))
    body["metadata"] = {"generateName": f"{name}-"}
    body["spec"]["colour"] = "blue"

    dry = https(dev_cluster, "POST", f"{CSRS}?dryRun=All", admin, json.dumps(body).encode())
    created = https(dev_cluster, "POST", CSRS, admin, json.dumps(body).encode())

    generated = created.json()["metadata"]["name"]
    assert dry.code == 201 and https(dev_cluster, "GET", f"{CSRS}/{dry.json()['metadata']['name']}", admin).code == 404
    assert generated.startswith(f"{name}-") and len(generated) == len(name) + 6
    assert created.headers["warning"] == '299 - "unknown field \\"spec.colour\\""'


def test_a_csr_with_a_finalizer_is_only_marked_until_the_finalizer_goes(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    body = json.loads(csr_body(name))
    body["metadata"]["finalizers"] = ["example.com/keep"]
    https(dev_cluster, "POST", CSRS, admin, json.dumps(body).encode())

    marked = https(dev_cluster, "DELETE", f"{CSRS}/{name}", admin).json()
    https(dev_cluster, "PATCH", f"{CSRS}/{name}", admin, b'{"metadata":{"finalizers":null}}', MERGE_PATCH)

    assert marked["metadata"]["deletionTimestamp"]
    assert https(dev_cluster, "GET", f"{CSRS}/{name}", admin).code == 404


def test_deletecollection_deletes_what_the_selector_selects(
    dev_cluster: DevCluster, admin: Identity, name: str
) -> None:
    for suffix in ("a", "b"):
        create(dev_cluster, admin, f"{name}-{suffix}")
    label = json.dumps({"metadata": {"labels": {"sweep": name}}}).encode()
    https(dev_cluster, "PATCH", f"{CSRS}/{name}-a", admin, label, MERGE_PATCH)

    deleted = https(dev_cluster, "DELETE", f"{CSRS}?labelSelector=sweep%3D{name}", admin).json()

    assert [item["metadata"]["name"] for item in deleted["items"]] == [f"{name}-a"]
    assert https(dev_cluster, "GET", f"{CSRS}/{name}-b", admin).code == 200


def test_openapi_v2_is_served_as_json_only(dev_cluster: DevCluster, admin: Identity) -> None:
    protobuf_only = {"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"}

    assert_status(https(dev_cluster, "GET", "/openapi/v2", admin, headers=protobuf_only), 406, "NotAcceptable")
