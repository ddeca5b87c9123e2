"""The shapes of the objects the dev cluster serves, written once.

Each field carries its JSON name and its protobuf field number, taken from the upstream generated.proto files
(k8s.io/api certificates/v1, authentication/v1 and core/v1, k8s.io/apimachinery meta/v1 and runtime). From these
definitions the server reads protobuf bodies, type-checks JSON bodies, reports unknown fields and writes its
OpenAPI documents, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Field kinds. "time" is metav1.Time (a Timestamp in protobuf, RFC 3339 in JSON); "microTime" is metav1.MicroTime
# (the same in protobuf, RFC 3339 with exactly six fractional digits in JSON); "fieldsV1" is raw JSON in
# protobuf and an object in JSON; "map" is map<string, string>; "extra" is map<string, ExtraValue>, a list of
# strings per key in JSON; "message" refers to another definition by name.
SCALARS = ("string", "bytes", "int32", "int64", "bool")


@dataclass(frozen=True)
class Field:
    """One field of a message."""

    name: str
    number: int  # 0 for JSON-only fields (apiVersion and kind travel in runtime.Unknown in protobuf)
    kind: str
    ref: str = ""  # the message name when kind == "message"
    repeated: bool = False
    description: str = ""
    list_type: str = ""  # x-kubernetes-list-type
    list_map_keys: tuple[str, ...] = ()
    patch_strategy: str = ""  # x-kubernetes-patch-strategy
    patch_merge_key: str = ""


@dataclass(frozen=True)
class Message:
    """A message (an OpenAPI definition) with its fields."""

    name: str  # the OpenAPI definition name, e.g. io.k8s.api.certificates.v1.CertificateSigningRequest
    description: str
    fields: tuple[Field, ...]
    required: tuple[str, ...] = ()
    gvk: tuple[str, str, str] | None = None  # (group, version, kind) for top-level kinds
    by_name: dict[str, Field] = field(init=False, repr=False, compare=False)
    by_number: dict[int, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        object.__setattr__(self, "by_number", {f.number: f for f in self.fields if f.number})


META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CERTS = "io.k8s.api.certificates.v1"
AUTHN = "io.k8s.api.authentication.v1"
CORE = "io.k8s.api.core.v1"

_API_VERSION = Field(
    "apiVersion",
    0,
    "string",
    description="APIVersion defines the versioned schema of this representation of an object.",
)
_KIND = Field(
    "kind", 0, "string", description="Kind is a string value representing the REST resource this object represents."
)


def _object_meta_field() -> Field:
    return Field("metadata", 1, "message", f"{META}.ObjectMeta", description="Standard object's metadata.")


MESSAGES: dict[str, Message] = {}


def _define(message: Message) -> Message:
    MESSAGES[message.name] = message
    return message


TIME = f"{META}.Time"
FIELDS_V1 = f"{META}.FieldsV1"

OBJECT_META = _define(
    Message(
        f"{META}.ObjectMeta",
        "ObjectMeta is metadata that all persisted resources must have.",
        (
            Field("name", 1, "string", description="Name must be unique within a namespace. Cannot be updated."),
            Field("generateName", 2, "string", description="A prefix the server uses to generate a unique name."),
            Field("namespace", 3, "string", description="Namespace; empty for cluster-scoped objects."),
            Field("selfLink", 4, "string", description="Deprecated; never populated."),
            Field("uid", 5, "string", description="UID is the unique in time and space value for this object."),
            Field("resourceVersion", 6, "string", description="An opaque value for optimistic concurrency and watch."),
            Field("generation", 7, "int64", description="A sequence number of the desired state."),
            Field("creationTimestamp", 8, "time", description="When the object was created."),
            Field("deletionTimestamp", 9, "time", description="When the object will be deleted."),
            Field("deletionGracePeriodSeconds", 10, "int64", description="Seconds allowed for graceful deletion."),
            Field("labels", 11, "map", description="Map of string keys and values to organize and select objects."),
            Field("annotations", 12, "map", description="Unstructured key value map stored with the object."),
            Field(
                "ownerReferences",
                13,
                "message",
                f"{META}.OwnerReference",
                repeated=True,
                description="Objects this object depends on.",
                list_type="map",
                list_map_keys=("uid",),
                patch_strategy="merge",
                patch_merge_key="uid",
            ),
            Field(
                "finalizers",
                14,
                "string",
                repeated=True,
                description="Must be empty before the object is deleted.",
                list_type="set",
                patch_strategy="merge",
            ),
            Field(
                "managedFields",
                17,
                "message",
                f"{META}.ManagedFieldsEntry",
                repeated=True,
                description="The fields managed by each workflow.",
                list_type="atomic",
            ),
        ),
    )
)

_define(
    Message(
        f"{META}.OwnerReference",
        "OwnerReference contains enough information to let you identify an owning object.",
        (
            Field("apiVersion", 5, "string", description="API version of the referent."),
            Field("kind", 1, "string", description="Kind of the referent."),
            Field("name", 3, "string", description="Name of the referent."),
            Field("uid", 4, "string", description="UID of the referent."),
            Field("controller", 6, "bool", description="If true, this reference points to the managing controller."),
            Field("blockOwnerDeletion", 7, "bool", description="Whether the owner waits for this object's deletion."),
        ),
        required=("apiVersion", "kind", "name", "uid"),
    )
)

_define(
    Message(
        f"{META}.ManagedFieldsEntry",
        "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource it applies to.",
        (
            Field("manager", 1, "string", description="An identifier of the workflow managing these fields."),
            Field("operation", 2, "string", description="Apply or Update."),
            Field("apiVersion", 3, "string", description="The version of the resource the field set applies to."),
            Field("time", 4, "time", description="When the entry was added."),
            Field("fieldsType", 6, "string", description="The fields format; only FieldsV1."),
            Field("fieldsV1", 7, "fieldsV1", description="The field set."),
            Field("subresource", 8, "string", description="The subresource used to update the object."),
        ),
    )
)

_define(
    Message(
        f"{META}.ListMeta",
        "ListMeta describes metadata that synthetic resources must have, including lists.",
        (
            Field("selfLink", 1, "string", description="Deprecated; never populated."),
            Field("resourceVersion", 2, "string", description="The version of the list."),
            Field("continue", 3, "string", description="Set when more items can be fetched."),
            Field("remainingItemCount", 4, "int64", description="The number of items not yet returned."),
        ),
    )
)

_define(
    Message(
        f"{META}.StatusCause",
        "StatusCause provides more information about an api.Status failure.",
        (
            Field("reason", 1, "string", description="A machine-readable description of the cause."),
            Field("message", 2, "string", description="A human-readable description of the cause."),
            Field("field", 3, "string", description="The field of the resource that has caused this error."),
        ),
    )
)

_define(
    Message(
        f"{META}.StatusDetails",
        "StatusDetails is a set of additional properties that MAY be set by the server.",
        (
            Field("name", 1, "string", description="The name of the resource."),
            Field("group", 2, "string", description="The group of the resource."),
            Field("kind", 3, "string", description="The kind of the resource."),
            Field("uid", 6, "string", description="The UID of the resource."),
            Field("causes", 4, "message", f"{META}.StatusCause", repeated=True, list_type="atomic"),
            Field("retryAfterSeconds", 5, "int32", description="Seconds before the operation should be retried."),
        ),
    )
)

_define(
    Message(
        f"{META}.Status",
        "Status is a return value for calls that don't return other objects.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field("status", 2, "string", description='"Success" or "Failure".'),
            Field("message", 3, "string", description="A human-readable description of the status."),
            Field("reason", 4, "string", description="A machine-readable description of why the call failed."),
            Field("details", 5, "message", f"{META}.StatusDetails", description="Extended data."),
            Field("code", 6, "int32", description="Suggested HTTP return code."),
        ),
        gvk=("", "v1", "Status"),
    )
)

_define(
    Message(
        f"{META}.Preconditions",
        "Preconditions must be fulfilled before an operation (update, delete, etc.) is carried out.",
        (
            Field("uid", 1, "string", description="Specifies the target UID."),
            Field("resourceVersion", 2, "string", description="Specifies the target ResourceVersion."),
        ),
    )
)

DELETE_OPTIONS = _define(
    Message(
        f"{META}.DeleteOptions",
        "DeleteOptions may be provided when deleting an API object.",
        (
            _API_VERSION,
            _KIND,
            Field("gracePeriodSeconds", 1, "int64", description="The duration in seconds before deletion."),
            Field("preconditions", 2, "message", f"{META}.Preconditions", description="Must be fulfilled first."),
            Field("orphanDependents", 3, "bool", description="Deprecated: use propagationPolicy."),
            Field("propagationPolicy", 4, "string", description="Orphan, Background or Foreground."),
            Field("dryRun", 5, "string", repeated=True, list_type="atomic", description="All: do not persist."),
            Field(
                "ignoreStoreReadErrorWithClusterBreakingPotential",
                6,
                "bool",
                description="Delete objects that cannot be read from the store.",
            ),
        ),
        gvk=("", "v1", "DeleteOptions"),
    )
)

_define(
    Message(
        f"{META}.WatchEvent",
        "Event represents a single event to a watched resource.",
        (
            Field("type", 1, "string"),
            Field("object", 2, "fieldsV1", description="The object: the new state, or the last state when deleted."),
        ),
        required=("type", "object"),
    )
)

CSR_CONDITION = _define(
    Message(
        f"{CERTS}.CertificateSigningRequestCondition",
        "CertificateSigningRequestCondition describes a condition of a CertificateSigningRequest object.",
        (
            Field("type", 1, "string", description='type of the condition: "Approved", "Denied" or "Failed".'),
            Field("status", 6, "string", description="status of the condition, one of True, False, Unknown."),
            Field("reason", 2, "string", description="reason indicates a brief reason for the request state."),
            Field("message", 3, "string", description="message contains a human readable message."),
            Field("lastUpdateTime", 4, "time", description="lastUpdateTime is the time of the last update."),
            Field("lastTransitionTime", 5, "time", description="The time the condition last transitioned."),
        ),
        required=("type", "status"),
    )
)

CSR_SPEC = _define(
    Message(
        f"{CERTS}.CertificateSigningRequestSpec",
        "CertificateSigningRequestSpec contains the certificate request.",
        (
            Field(
                "request",
                1,
                "bytes",
                description="request contains an x509 certificate signing request encoded "
                'in a "CERTIFICATE REQUEST" PEM block. When serialized as JSON or YAML, the data is additionally '
                "base64-encoded.",
            ),
            Field(
                "signerName",
                7,
                "string",
                description="signerName indicates the requested signer, and is a qualified name.",
            ),
            Field(
                "expirationSeconds",
                8,
                "int32",
                description="expirationSeconds is the requested duration of "
                "validity of the issued certificate. The minimum valid value is 600.",
            ),
            Field(
                "usages",
                5,
                "string",
                repeated=True,
                list_type="atomic",
                description="usages specifies a set of key usages requested in the issued certificate.",
            ),
            Field(
                "username",
                2,
                "string",
                description="username contains the name of the user that created the "
                "CertificateSigningRequest. Populated by the API server on creation and immutable.",
            ),
            Field(
                "uid",
                3,
                "string",
                description="uid contains the uid of the user that created the "
                "CertificateSigningRequest. Populated by the API server on creation and immutable.",
            ),
            Field(
                "groups",
                4,
                "string",
                repeated=True,
                list_type="atomic",
                description="groups contains group membership of the user that created the CertificateSigningRequest.",
            ),
            Field(
                "extra",
                6,
                "extra",
                description="extra contains extra attributes of the user that created the CertificateSigningRequest.",
            ),
        ),
        required=("request", "signerName"),
    )
)

CSR_STATUS = _define(
    Message(
        f"{CERTS}.CertificateSigningRequestStatus",
        "CertificateSigningRequestStatus contains conditions used to indicate approved/denied/failed status of "
        "the request, and the issued certificate.",
        (
            Field(
                "conditions",
                1,
                "message",
                CSR_CONDITION.name,
                repeated=True,
                list_type="map",
                list_map_keys=("type",),
                description='conditions applied to the request. Known conditions are "Approved", "Denied", and '
                '"Failed".',
            ),
            Field(
                "certificate",
                2,
                "bytes",
                description="certificate is populated with an issued certificate by "
                "the signer after an Approved condition is present.",
            ),
        ),
    )
)

CSR = _define(
    Message(
        f"{CERTS}.CertificateSigningRequest",
        "CertificateSigningRequest objects provide a mechanism to obtain x509 certificates by submitting a "
        "certificate signing request, and having it asynchronously approved and issued.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field(
                "spec",
                2,
                "message",
                CSR_SPEC.name,
                description="spec contains the certificate request, and is immutable after creation.",
            ),
            Field(
                "status",
                3,
                "message",
                CSR_STATUS.name,
                description="status contains information about whether "
                "the request is approved or denied, and the certificate issued by the signer.",
            ),
        ),
        required=("spec",),
        gvk=("certificates.k8s.io", "v1", "CertificateSigningRequest"),
    )
)

CSR_LIST = _define(
    Message(
        f"{CERTS}.CertificateSigningRequestList",
        "CertificateSigningRequestList is a collection of CertificateSigningRequest objects.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field(
                "items",
                2,
                "message",
                CSR.name,
                repeated=True,
                description="items is a collection of CertificateSigningRequest objects.",
            ),
        ),
        required=("items",),
        gvk=("certificates.k8s.io", "v1", "CertificateSigningRequestList"),
    )
)

USER_INFO = _define(
    Message(
        f"{AUTHN}.UserInfo",
        "UserInfo holds the information about the user needed to implement the user.Info interface.",
        (
            Field("username", 1, "string", description="The name that uniquely identifies this user."),
            Field("uid", 2, "string", description="A unique value that identifies this user across time."),
            Field("groups", 3, "string", repeated=True, list_type="atomic", description="The groups of the user."),
            Field("extra", 4, "extra", description="Any additional information provided by the authenticator."),
        ),
    )
)

_define(
    Message(
        f"{AUTHN}.SelfSubjectReviewStatus",
        "SelfSubjectReviewStatus is filled by the kube-apiserver and sent back to a user.",
        (
            Field(
                "userInfo", 1, "message", USER_INFO.name, description="User attributes of the user making this request."
            ),
        ),
    )
)

SELF_SUBJECT_REVIEW = _define(
    Message(
        f"{AUTHN}.SelfSubjectReview",
        "SelfSubjectReview contains the user information that the kube-apiserver has about the user making this "
        "request.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field(
                "status",
                2,
                "message",
                f"{AUTHN}.SelfSubjectReviewStatus",
                description="Status is filled in by the server with the user attributes.",
            ),
        ),
        gvk=("authentication.k8s.io", "v1", "SelfSubjectReview"),
    )
)

# Nodes: the fields a Node manifest written by hand uses, and those `kubectl get nodes` prints. Resource
# quantities (capacity, allocatable), images, volumes and daemon endpoints are left out: a body naming them is
# told of unknown fields, as for any field this server does not know.
NODE_ADDRESS = _define(
    Message(
        f"{CORE}.NodeAddress",
        "NodeAddress contains information for the node's address.",
        (
            Field("type", 1, "string", description="Node address type, one of Hostname, ExternalIP or InternalIP."),
            Field("address", 2, "string", description="The node address."),
        ),
        required=("type", "address"),
    )
)

NODE_CONDITION = _define(
    Message(
        f"{CORE}.NodeCondition",
        "NodeCondition contains condition information for a node.",
        (
            Field("type", 1, "string", description="Type of node condition."),
            Field("status", 2, "string", description="Status of the condition, one of True, False, Unknown."),
            Field("lastHeartbeatTime", 3, "time", description="Last time we got an update on a given condition."),
            Field("lastTransitionTime", 4, "time", description="Last time the condition transit from one status to "
                  "another."),
            Field("reason", 5, "string", description="(brief) reason for the condition's last transition."),
            Field("message", 6, "string", description="Human readable message indicating details about last "
                  "transition."),
        ),
        required=("type", "status"),
    )
)  # fmt: skip

TAINT = _define(
    Message(
        f"{CORE}.Taint",
        "The node this Taint is attached to has the \"effect\" on any pod that does not tolerate the Taint.",
        (
            Field("key", 1, "string", description="Required. The taint key to be applied to a node."),
            Field("value", 2, "string", description="The taint value corresponding to the taint key."),
            Field("effect", 3, "string", description="Required. The effect of the taint on pods that do not tolerate "
                  "the taint: NoSchedule, PreferNoSchedule or NoExecute."),
            Field("timeAdded", 4, "time", description="The time at which the taint was added."),
        ),
        required=("key", "effect"),
    )
)  # fmt: skip

NODE_SYSTEM_INFO = _define(
    Message(
        f"{CORE}.NodeSystemInfo",
        "NodeSystemInfo is a set of ids/uuids to uniquely identify the node.",
        (
            Field("machineID", 1, "string", description="MachineID reported by the node."),
            Field("systemUUID", 2, "string", description="SystemUUID reported by the node."),
            Field("bootID", 3, "string", description="Boot ID reported by the node."),
            Field("kernelVersion", 4, "string", description="Kernel Version reported by the node."),
            Field("osImage", 5, "string", description="OS Image reported by the node."),
            Field("containerRuntimeVersion", 6, "string", description="ContainerRuntime Version reported by the node."),
            Field("kubeletVersion", 7, "string", description="Kubelet Version reported by the node."),
            Field("kubeProxyVersion", 8, "string", description="Deprecated: KubeProxy Version reported by the node."),
            Field("operatingSystem", 9, "string", description="The Operating System reported by the node."),
            Field("architecture", 10, "string", description="The Architecture reported by the node."),
        ),
    )
)

NODE_SPEC = _define(
    Message(
        f"{CORE}.NodeSpec",
        "NodeSpec describes the attributes that a node is created with.",
        (
            Field("podCIDR", 1, "string", description="PodCIDR represents the pod IP range assigned to the node."),
            Field("podCIDRs", 7, "string", repeated=True, list_type="set", patch_strategy="merge",
                  description="podCIDRs represents the IP ranges assigned to the node for usage by Pods on that node."),
            Field("providerID", 3, "string", description="ID of the node assigned by the cloud provider."),
            Field("unschedulable", 4, "bool", description="Unschedulable controls node schedulability of new pods."),
            Field("taints", 5, "message", f"{CORE}.Taint", repeated=True, list_type="atomic",
                  description="If specified, the node's taints."),
            Field("externalID", 2, "string", description="Deprecated. Not all kubelets will set this field."),
        ),
    )
)  # fmt: skip

NODE_STATUS = _define(
    Message(
        f"{CORE}.NodeStatus",
        "NodeStatus is information about the current status of a node.",
        (
            Field("phase", 3, "string", description="NodePhase is the recently observed lifecycle phase of the node."),
            Field("conditions", 4, "message", NODE_CONDITION.name, repeated=True, list_type="map",
                  list_map_keys=("type",), patch_strategy="merge", patch_merge_key="type",
                  description="Conditions is an array of current observed node conditions."),
            Field("addresses", 5, "message", NODE_ADDRESS.name, repeated=True, list_type="map",
                  list_map_keys=("type",), patch_strategy="merge", patch_merge_key="type",
                  description="List of addresses reachable to the node. Callers should use a full-replacement patch "
                  "(the merge key is not unique)."),
            Field("nodeInfo", 7, "message", f"{CORE}.NodeSystemInfo",
                  description="Set of ids/uuids to uniquely identify the node."),
        ),
    )
)  # fmt: skip

NODE = _define(
    Message(
        f"{CORE}.Node",
        "Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache (i.e. in etcd).",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("spec", 2, "message", NODE_SPEC.name, description="Spec defines the behavior of a node."),
            Field("status", 3, "message", NODE_STATUS.name, description="Most recently observed status of the node."),
        ),
        gvk=("", "v1", "Node"),
    )
)

NODE_LIST = _define(
    Message(
        f"{CORE}.NodeList",
        "NodeList is the whole list of all Nodes which have been registered with master.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field("items", 2, "message", NODE.name, repeated=True, description="List of nodes"),
        ),
        required=("items",),
        gvk=("", "v1", "NodeList"),
    )
)

# Top-level kinds a request body may carry, by (apiVersion, kind).
BODY_KINDS: dict[tuple[str, str], Message] = {
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): CSR,
    ("authentication.k8s.io/v1", "SelfSubjectReview"): SELF_SUBJECT_REVIEW,
    ("v1", "Node"): NODE,
    ("v1", "DeleteOptions"): DELETE_OPTIONS,
    ("meta.k8s.io/v1", "DeleteOptions"): DELETE_OPTIONS,
}

# --- namespaces and configmaps (k8s.io/api core/v1) ---------------------------------------------------------------

_define(
    Message(
        f"{CORE}.NamespaceSpec",
        "NamespaceSpec describes the attributes on a Namespace.",
        (Field("finalizers", 1, "string", repeated=True, list_type="atomic",
               description="Finalizers is an opaque list of values that must be empty to permanently remove object "
               "from storage."),),
    )
)  # fmt: skip

_define(
    Message(
        f"{CORE}.NamespaceStatus",
        "NamespaceStatus is information about the current status of a Namespace.",
        (Field("phase", 1, "string", description="Phase is the current lifecycle phase of the namespace."),),
    )
)

NAMESPACE = _define(
    Message(
        f"{CORE}.Namespace",
        "Namespace provides a scope for Names. Use of multiple namespaces is optional.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("spec", 2, "message", f"{CORE}.NamespaceSpec", description="Spec defines the behavior of the "
                  "Namespace."),
            Field("status", 3, "message", f"{CORE}.NamespaceStatus", description="Status describes the current "
                  "status of a Namespace."),
        ),
        gvk=("", "v1", "Namespace"),
    )
)  # fmt: skip

NAMESPACE_LIST = _define(
    Message(
        f"{CORE}.NamespaceList",
        "NamespaceList is a list of Namespaces.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field("items", 2, "message", NAMESPACE.name, repeated=True, description="Items is the list of Namespace "
                  "objects in the list."),
        ),
        required=("items",),
        gvk=("", "v1", "NamespaceList"),
    )
)  # fmt: skip

CONFIG_MAP = _define(
    Message(
        f"{CORE}.ConfigMap",
        "ConfigMap holds configuration data for pods to consume.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("data", 2, "map", description="Data contains the configuration data."),
            Field("binaryData", 3, "map", description="BinaryData contains the binary data, base64-encoded in JSON."),
            Field("immutable", 4, "bool", description="If set to true, ensures that data stored in the ConfigMap "
                  "cannot be updated."),
        ),
        gvk=("", "v1", "ConfigMap"),
    )
)  # fmt: skip

CONFIG_MAP_LIST = _define(
    Message(
        f"{CORE}.ConfigMapList",
        "ConfigMapList is a resource containing a list of ConfigMap objects.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field("items", 2, "message", CONFIG_MAP.name, repeated=True, description="Items is the list of "
                  "ConfigMaps."),
        ),
        required=("items",),
        gvk=("", "v1", "ConfigMapList"),
    )
)  # fmt: skip

# --- events (k8s.io/api core/v1) --------------------------------------------------------------------------------

_define(
    Message(
        f"{CORE}.ObjectReference",
        "ObjectReference contains enough information to let you inspect or modify the referred object.",
        (
            Field("kind", 1, "string", description="Kind of the referent."),
            Field("namespace", 2, "string", description="Namespace of the referent."),
            Field("name", 3, "string", description="Name of the referent."),
            Field("uid", 4, "string", description="UID of the referent."),
            Field("apiVersion", 5, "string", description="API version of the referent."),
            Field("resourceVersion", 6, "string", description="Specific resourceVersion to which this reference is "
                  "made, if any."),
            Field("fieldPath", 7, "string", description="The piece of the object the reference is to, if not all."),
        ),
    )
)  # fmt: skip

_define(
    Message(
        f"{CORE}.EventSource",
        "EventSource contains information for an event.",
        (
            Field("component", 1, "string", description="Component from which the event is generated."),
            Field("host", 2, "string", description="Node name on which the event is generated."),
        ),
    )
)

_define(
    Message(
        f"{CORE}.EventSeries",
        "EventSeries contain information on series of events, i.e. thing that was/is happening continuously for some "
        "time.",
        (
            Field("count", 1, "int32", description="Number of occurrences in this series up to the last heartbeat "
                  "time"),
            Field("lastObservedTime", 2, "microTime", description="Time of the last occurrence observed"),
        ),
    )
)  # fmt: skip

EVENT = _define(
    Message(
        f"{CORE}.Event",
        "Event is a report of an event somewhere in the cluster.  Events have a limited retention time and triggers "
        "and messages may evolve with time.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("involvedObject", 2, "message", f"{CORE}.ObjectReference", description="The object that this event "
                  "is about."),
            Field("reason", 3, "string", description="This should be a short, machine understandable string that "
                  "gives the reason for the transition into the object's current status."),
            Field("message", 4, "string", description="A human-readable description of the status of this "
                  "operation."),
            Field("source", 5, "message", f"{CORE}.EventSource", description="The component reporting this event."),
            Field("firstTimestamp", 6, "time", description="The time at which the event was first recorded."),
            Field("lastTimestamp", 7, "time", description="The time at which the most recent occurrence of this event "
                  "was recorded."),
            Field("count", 8, "int32", description="The number of times this event has occurred."),
            Field("type", 9, "string", description="Type of this event (Normal, Warning), new types could be added in "
                  "the future"),
            Field("eventTime", 10, "microTime", description="Time when this Event was first observed."),
            Field("series", 11, "message", f"{CORE}.EventSeries", description="Data about the Event series this event "
                  "represents or nil if it's a singleton Event."),
            Field("action", 12, "string", description="What action was taken/failed regarding to the Regarding "
                  "object."),
            Field("related", 13, "message", f"{CORE}.ObjectReference", description="Optional secondary object for "
                  "more complex actions."),
            Field("reportingComponent", 14, "string", description="Name of the controller that emitted this Event, "
                  "e.g. `kubernetes.io/kubelet`."),
            Field("reportingInstance", 15, "string", description="ID of the controller instance, e.g. "
                  "`kubelet-xyzf`."),
        ),
        required=("metadata", "involvedObject"),
        gvk=("", "v1", "Event"),
    )
)  # fmt: skip

EVENT_LIST = _define(
    Message(
        f"{CORE}.EventList",
        "EventList is a list of events.",
        (
            _API_VERSION,
            _KIND,
            Field("metadata", 1, "message", f"{META}.ListMeta"),
            Field("items", 2, "message", EVENT.name, repeated=True, description="List of events"),
        ),
        required=("items",),
        gvk=("", "v1", "EventList"),
    )
)

# --- RBAC (k8s.io/api rbac/v1) ----------------------------------------------------------------------------------

RBAC = "io.k8s.api.rbac.v1"
RBAC_GROUP = "rbac.authorization.k8s.io"

POLICY_RULE = _define(
    Message(
        f"{RBAC}.PolicyRule",
        "PolicyRule holds information that describes a policy rule, but does not contain information about who the "
        "rule applies to or which namespace the rule applies to.",
        (
            Field("verbs", 1, "string", repeated=True, list_type="atomic", description="Verbs is a list of Verbs "
                  "that apply to ALL the ResourceKinds contained in this rule. '*' represents all verbs."),
            Field("apiGroups", 2, "string", repeated=True, list_type="atomic", description="APIGroups is the name "
                  "of the APIGroup that contains the resources. \"\" represents the core API group."),
            Field("resources", 3, "string", repeated=True, list_type="atomic", description="Resources is a list of "
                  "resources this rule applies to. '*' represents all resources."),
            Field("resourceNames", 4, "string", repeated=True, list_type="atomic", description="ResourceNames is "
                  "an optional white list of names that the rule applies to."),
            Field("nonResourceURLs", 5, "string", repeated=True, list_type="atomic", description="NonResourceURLs "
                  "is a set of partial urls that a user should have access to."),
        ),
        required=("verbs",),
    )
)  # fmt: skip

_define(
    Message(
        f"{META}.LabelSelector",
        "A label selector is a label query over a set of resources.",
        (Field("matchLabels", 1, "map", description="matchLabels is a map of {key,value} pairs."),),
    )
)

_define(
    Message(
        f"{RBAC}.AggregationRule",
        "AggregationRule describes how to locate ClusterRoles to aggregate into the ClusterRole.",
        (Field("clusterRoleSelectors", 1, "message", f"{META}.LabelSelector", repeated=True, list_type="atomic",
               description="ClusterRoleSelectors holds a list of selectors which will be used to find ClusterRoles "
               "and create the rules."),),
    )
)  # fmt: skip

SUBJECT = _define(
    Message(
        f"{RBAC}.Subject",
        "Subject contains a reference to the object or user identities a role binding applies to.",
        (
            Field("kind", 1, "string", description='Kind of object being referenced: "User", "Group", and '
                  '"ServiceAccount".'),
            Field("apiGroup", 2, "string", description="APIGroup holds the API group of the referenced subject."),
            Field("name", 3, "string", description="Name of the object being referenced."),
            Field("namespace", 4, "string", description="Namespace of the referenced object."),
        ),
        required=("kind", "name"),
    )
)  # fmt: skip

ROLE_REF = _define(
    Message(
        f"{RBAC}.RoleRef",
        "RoleRef contains information that points to the role being used.",
        (
            Field("apiGroup", 1, "string", description="APIGroup is the group for the resource being referenced."),
            Field("kind", 2, "string", description="Kind is the type of resource being referenced."),
            Field("name", 3, "string", description="Name is the name of resource being referenced."),
        ),
        required=("apiGroup", "kind", "name"),
    )
)


def _rbac_kind(kind: str, description: str, fields: tuple[Field, ...], required: tuple[str, ...] = ()) -> Message:
    return _define(
        Message(
            f"{RBAC}.{kind}",
            description,
            (_API_VERSION, _KIND, _object_meta_field(), *fields),
            required=required,
            gvk=(RBAC_GROUP, "v1", kind),
        )
    )


def _rbac_list(item: Message) -> Message:
    kind = item.name.rsplit(".", 1)[1]
    return _define(
        Message(
            f"{item.name}List",
            f"{kind}List is a collection of {kind}s.",
            (
                _API_VERSION,
                _KIND,
                Field("metadata", 1, "message", f"{META}.ListMeta"),
                Field("items", 2, "message", item.name, repeated=True, description=f"Items is a list of {kind}s."),
            ),
            required=("items",),
            gvk=(RBAC_GROUP, "v1", f"{kind}List"),
        )
    )


_RULES = Field("rules", 2, "message", POLICY_RULE.name, repeated=True, list_type="atomic",
               description="Rules holds all the PolicyRules for this role.")  # fmt: skip
_SUBJECTS = Field("subjects", 2, "message", SUBJECT.name, repeated=True, list_type="atomic",
                  description="Subjects holds references to the objects the role applies to.")  # fmt: skip
_ROLE_REF = Field("roleRef", 3, "message", ROLE_REF.name, description="RoleRef can reference a Role in the current "
                  "namespace or a ClusterRole in the global namespace. It cannot be updated.")  # fmt: skip

ROLE = _rbac_kind("Role", "Role is a namespaced, logical grouping of PolicyRules.", (_RULES,))
CLUSTER_ROLE = _rbac_kind(
    "ClusterRole",
    "ClusterRole is a cluster level, logical grouping of PolicyRules.",
    (_RULES, Field("aggregationRule", 3, "message", f"{RBAC}.AggregationRule", description="AggregationRule is an "
     "optional field that describes how to build the Rules for this ClusterRole.")),
)  # fmt: skip
ROLE_BINDING = _rbac_kind(
    "RoleBinding", "RoleBinding references a role, but does not contain it.", (_SUBJECTS, _ROLE_REF), ("roleRef",)
)
CLUSTER_ROLE_BINDING = _rbac_kind(
    "ClusterRoleBinding",
    "ClusterRoleBinding references a ClusterRole, but not contain it.",
    (_SUBJECTS, _ROLE_REF),
    ("roleRef",),
)
ROLE_LIST, CLUSTER_ROLE_LIST = _rbac_list(ROLE), _rbac_list(CLUSTER_ROLE)
ROLE_BINDING_LIST, CLUSTER_ROLE_BINDING_LIST = _rbac_list(ROLE_BINDING), _rbac_list(CLUSTER_ROLE_BINDING)

# --- access reviews (k8s.io/api authorization/v1) ---------------------------------------------------------------

AUTHZ = "io.k8s.api.authorization.v1"

_define(
    Message(
        f"{AUTHZ}.ResourceAttributes",
        "ResourceAttributes includes the authorization attributes available for resource requests to the Authorizer "
        "interface.",
        (
            Field("namespace", 1, "string", description="Namespace is the namespace of the action being requested."),
            Field("verb", 2, "string", description='Verb is a kubernetes resource API verb. "*" means all.'),
            Field("group", 3, "string", description='Group is the API Group of the Resource. "*" means all.'),
            Field("version", 4, "string", description="Version is the API Version of the Resource."),
            Field("resource", 5, "string", description="Resource is one of the existing resource types."),
            Field("subresource", 6, "string", description="Subresource is one of the existing resource types."),
            Field("name", 7, "string", description="Name is the name of the resource being requested."),
        ),
    )
)

_define(
    Message(
        f"{AUTHZ}.NonResourceAttributes",
        "NonResourceAttributes includes the authorization attributes available for non-resource requests.",
        (
            Field("path", 1, "string", description="Path is the URL path of the request."),
            Field("verb", 2, "string", description="Verb is the standard HTTP verb."),
        ),
    )
)

_define(
    Message(
        f"{AUTHZ}.SelfSubjectAccessReviewSpec",
        "SelfSubjectAccessReviewSpec is a description of the access request. Exactly one of "
        "ResourceAuthorizationAttributes and NonResourceAuthorizationAttributes must be set.",
        (
            Field("resourceAttributes", 1, "message", f"{AUTHZ}.ResourceAttributes",
                  description="ResourceAuthorizationAttributes describes information for a resource access request."),
            Field("nonResourceAttributes", 2, "message", f"{AUTHZ}.NonResourceAttributes",
                  description="NonResourceAttributes describes information for a non-resource access request."),
        ),
    )
)  # fmt: skip

_define(
    Message(
        f"{AUTHZ}.SubjectAccessReviewStatus",
        "SubjectAccessReviewStatus: whether the action would be allowed.",
        (
            Field("allowed", 1, "bool", description="Allowed is required. True if the action would be allowed."),
            Field("denied", 4, "bool", description="Denied is optional. True if the action would be denied."),
            Field("reason", 2, "string", description="Reason is optional. Why a request was allowed or denied."),
            Field("evaluationError", 3, "string", description="An error occurred during the authorization check."),
        ),
        required=("allowed",),
    )
)

SELF_SUBJECT_ACCESS_REVIEW = _define(
    Message(
        f"{AUTHZ}.SelfSubjectAccessReview",
        "SelfSubjectAccessReview checks whether or the current user can perform an action.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("spec", 2, "message", f"{AUTHZ}.SelfSubjectAccessReviewSpec",
                  description="Spec holds information about the request being evaluated."),
            Field("status", 3, "message", f"{AUTHZ}.SubjectAccessReviewStatus",
                  description="Status is filled in by the server and indicates whether the request is allowed."),
        ),
        required=("spec",),
        gvk=("authorization.k8s.io", "v1", "SelfSubjectAccessReview"),
    )
)  # fmt: skip

_define(
    Message(
        f"{AUTHZ}.SelfSubjectRulesReviewSpec",
        "SelfSubjectRulesReviewSpec defines the specification for SelfSubjectRulesReview.",
        (Field("namespace", 1, "string", description="Namespace to evaluate rules for. Required."),),
    )
)

_define(
    Message(
        f"{AUTHZ}.ResourceRule",
        "ResourceRule is the list of actions the subject is allowed to perform on resources.",
        (
            Field("verbs", 1, "string", repeated=True, list_type="atomic", description='Verbs. "*" means all.'),
            Field("apiGroups", 2, "string", repeated=True, list_type="atomic", description="API groups."),
            Field("resources", 3, "string", repeated=True, list_type="atomic", description="Resources."),
            Field("resourceNames", 4, "string", repeated=True, list_type="atomic", description="Resource names."),
        ),
        required=("verbs",),
    )
)

_define(
    Message(
        f"{AUTHZ}.NonResourceRule",
        "NonResourceRule holds information that describes a rule for the non-resource.",
        (
            Field("verbs", 1, "string", repeated=True, list_type="atomic", description='Verbs. "*" means all.'),
            Field("nonResourceURLs", 2, "string", repeated=True, list_type="atomic", description="Partial URLs."),
        ),
        required=("verbs",),
    )
)

_define(
    Message(
        f"{AUTHZ}.SubjectRulesReviewStatus",
        "SubjectRulesReviewStatus contains the result of a rules check.",
        (
            Field("resourceRules", 1, "message", f"{AUTHZ}.ResourceRule", repeated=True, list_type="atomic",
                  description="The actions the subject is allowed to perform on resources."),
            Field("nonResourceRules", 2, "message", f"{AUTHZ}.NonResourceRule", repeated=True, list_type="atomic",
                  description="The actions the subject is allowed to perform on non-resources."),
            Field("incomplete", 3, "bool", description="True when the rules returned by this call are incomplete."),
            Field("evaluationError", 4, "string", description="An error occurred during rule evaluation."),
        ),
        required=("resourceRules", "nonResourceRules", "incomplete"),
    )
)  # fmt: skip

SELF_SUBJECT_RULES_REVIEW = _define(
    Message(
        f"{AUTHZ}.SelfSubjectRulesReview",
        "SelfSubjectRulesReview enumerates the set of actions the current user can perform within a namespace.",
        (
            _API_VERSION,
            _KIND,
            _object_meta_field(),
            Field("spec", 2, "message", f"{AUTHZ}.SelfSubjectRulesReviewSpec",
                  description="Spec holds information about the request being evaluated."),
            Field("status", 3, "message", f"{AUTHZ}.SubjectRulesReviewStatus",
                  description="Status is filled in by the server and indicates the set of actions a user can perform."),
        ),
        required=("spec",),
        gvk=("authorization.k8s.io", "v1", "SelfSubjectRulesReview"),
    )
)  # fmt: skip

BODY_KINDS.update(
    {
        ("v1", "Namespace"): NAMESPACE,
        ("v1", "ConfigMap"): CONFIG_MAP,
        ("v1", "Event"): EVENT,
        (f"{RBAC_GROUP}/v1", "Role"): ROLE,
        (f"{RBAC_GROUP}/v1", "ClusterRole"): CLUSTER_ROLE,
        (f"{RBAC_GROUP}/v1", "RoleBinding"): ROLE_BINDING,
        (f"{RBAC_GROUP}/v1", "ClusterRoleBinding"): CLUSTER_ROLE_BINDING,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): SELF_SUBJECT_RULES_REVIEW,
    }
)
