"""The dev cluster process: HTTPS on 127.0.0.1 with the cluster CA, files for its identities, clean shutdown.

`DevCluster` runs in the calling process (tests start one per session); `run_dev_cluster` is what
`csrgate dev cluster` runs in the foreground until SIGINT or SIGTERM.
"""

from __future__ import annotations

import contextlib
import datetime
import email.message
import logging
import secrets
import signal
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from devstack.cluster import bootstrap
from devstack.cluster.api import Api, Request, Response, Served, Stream, json_response
from devstack.cluster.auth import (
    ADMIN_USER,
    APPROVER_USER,
    APPROVERS_GROUP,
    MASTERS,
    Authenticator,
    Authorizer,
    UserInfo,
)
from devstack.cluster.eks_auth import EksAuthentication, EksTokenAuthenticator
from devstack.cluster.events import EventRegistry
from devstack.cluster.kubeconfigs import (
    ADMIN_KUBECONFIG,
    APPROVER_KUBECONFIG,
    client_certificate_credentials,
    kubeconfig,
    token_credentials,
    write_kubeconfig,
    write_node_kubeconfig,
    write_user_kubeconfig,
)
from devstack.cluster.namespaces import ConfigMapRegistry, NamespaceRegistry
from devstack.cluster.nodes import NodeRegistry
from devstack.cluster.pki import CA_CERT_FILE, DevCa
from devstack.cluster.rbac import (
    ClusterRoleBindingRegistry,
    ClusterRoleRegistry,
    RoleBindingRegistry,
    RoleRegistry,
    StorePolicy,
)
from devstack.cluster.registry import CsrRegistry
from devstack.cluster.selectors import CLUSTER_FIELDS, EVENT_FIELDS, NAMESPACE_FIELDS, NAMESPACED_FIELDS
from devstack.cluster.signer import KUBE_APISERVER_CLIENT, KUBELET_SERVING, Controllers
from devstack.cluster.status import ApiError, bad_request, internal_error, too_large
from devstack.cluster.store import DEFAULT_HISTORY_LIMIT, Store
from devstack.cluster.tables import binding_table, config_map_table, event_table, namespace_table, role_table

LOG = logging.getLogger("devstack.cluster")
ACCESS_LOG = logging.getLogger("devstack.cluster.access")
APPROVER_TOKEN_FILE = "approver.token"
NODES_STATE_FILE = "nodes.json"
MAX_BODY_BYTES = 3 * 1024 * 1024  # kube-apiserver's --max-request-body-bytes
IDLE_TIMEOUT = 120.0
_OTHER_RESOURCES = (
    "namespaces",
    "configmaps",
    "events",
    "roles",
    "clusterroles",
    "rolebindings",
    "clusterrolebindings",
)


def utc_now() -> datetime.datetime:
    """The wall clock, in UTC."""
    return datetime.datetime.now(datetime.UTC)


class DevCluster:
    """A local Kubernetes API for CSRs: start() it, use its kubeconfigs, stop() it."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        signing_delay: float = 0.0,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        bookmark_interval: float = 60.0,
        clock: Callable[[], datetime.datetime] = utc_now,
        self_renewal: bool = False,
        eks: EksAuthentication | None = None,
        kubelet_serving_signer: bool = False,
        persist: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        # Read by start(). Also sign kubernetes.io/kubelet-serving, as a kubeadm cluster's controller manager does.
        self.kubelet_serving_signer = kubelet_serving_signer
        # Keep objects in files under data_dir, so they survive a restart; each change rewrites its resource's whole
        # file, which is what a burst of hundreds of requests measures when it is on (the CA and kubeconfigs stay).
        self.persist = persist
        # also authenticate EKS tokens (`aws eks get-token`), as an EKS cluster does; bad access entries fail here
        self._eks = EksTokenAuthenticator(eks) if eks is not None else None
        self._self_renewal = self_renewal  # every authenticated user may create CSRs, to renew their certificate
        self._requested_port = port
        self._signing_delay = signing_delay
        self._history_limit = history_limit
        self._bookmark_interval = bookmark_interval
        self._clock = clock
        self._server: _TlsServer | None = None
        self._thread: threading.Thread | None = None
        self._controllers: Controllers | None = None
        self._store: Store | None = None
        self._node_store: Store | None = None
        self._other_stores: list[Store] = []
        self._ca: DevCa | None = None
        self.api: Api | None = None
        self.approver_token = ""

    @property
    def port(self) -> int:
        """The port served (known once started)."""
        assert self._server is not None, "the dev cluster is not running"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """https://127.0.0.1:PORT."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> DevCa:
        """The cluster CA (tests use it to mint identities the cluster trusts)."""
        assert self._ca is not None, "the dev cluster is not running"
        return self._ca

    @property
    def ca_path(self) -> Path:
        """The CA certificate clients trust."""
        return self.data_dir / CA_CERT_FILE

    @property
    def admin_kubeconfig(self) -> Path:
        """The cluster-admin identity (client certificate, group system:masters)."""
        return self.data_dir / ADMIN_KUBECONFIG

    @property
    def approver_kubeconfig(self) -> Path:
        """The approver identity (bearer token): get, list, watch and approve CSRs, nothing else."""
        return self.data_dir / APPROVER_KUBECONFIG

    def start(self) -> DevCluster:
        """Load or create state under the data directory, write the kubeconfigs and start serving."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        now = self._clock()
        ca = self._ca = DevCa.load_or_create(self.data_dir, now)
        self.approver_token = _load_or_create_token(self.data_dir / APPROVER_TOKEN_FILE)
        authenticator = Authenticator(
            {self.approver_token: UserInfo(APPROVER_USER, (APPROVERS_GROUP,))},
            self._eks,
        )
        # Each resource keeps its own file and resourceVersions: no client compares those of different resources.
        stores = {name: self._open_store(f"{name}.json") for name in _OTHER_RESOURCES}
        policy = StorePolicy(
            stores["roles"], stores["clusterroles"], stores["rolebindings"], stores["clusterrolebindings"]
        )
        authorizer = Authorizer(policy)
        kept_in = self.data_dir if self.persist else None
        self._store = Store(kept_in, self._history_limit)
        registry = CsrRegistry(self._store, authorizer, self._clock)
        self._node_store = Store(kept_in, self._history_limit, NODES_STATE_FILE)
        nodes = NodeRegistry(self._node_store, authorizer, self._clock)
        more = self._other_resources(stores, authorizer, policy)
        context = _tls_context(ca, now)
        self._server = _TlsServer(("127.0.0.1", self._requested_port), _Handler, context, authenticator)
        address = f"127.0.0.1:{self.port}"
        namespaces = more[0].registry
        self.api = Api(registry, authorizer, address, self._clock, self._bookmark_interval, nodes, more, namespaces)
        self._server.api = self.api
        self._write_kubeconfigs(ca, now)
        signers = frozenset({KUBE_APISERVER_CLIENT, *([KUBELET_SERVING] if self.kubelet_serving_signer else [])})
        self._controllers = Controllers(registry, ca, self._clock, self._signing_delay, signers=signers)
        self._controllers.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="dev-cluster-http", daemon=True
        )
        self._thread.start()
        LOG.info("serving %s (data in %s)", self.url, self.data_dir)
        return self

    def stop(self) -> None:
        """Stop serving: end watches cleanly, close every connection, stop the controllers. Idempotent."""
        if self._server is None:
            return
        assert self._store is not None and self._controllers is not None and self._thread is not None
        self._store.close()
        for store in (self._node_store, *self._other_stores):
            if store is not None:
                store.close()
        self._other_stores = []
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.close_connections()
        self._server.server_close()
        self._controllers.stop()
        self._server = None
        LOG.info("stopped")

    def _open_store(self, file_name: str) -> Store:
        store = Store(self.data_dir if self.persist else None, self._history_limit, file_name)
        self._other_stores.append(store)
        return store

    def _other_resources(self, stores: dict[str, Store], authorizer: Authorizer, policy: StorePolicy) -> list[Served]:
        """Namespaces, ConfigMaps, Events and the RBAC objects, the built-ins among them reconciled; Namespaces
        first."""
        clock = self._clock
        namespaces = NamespaceRegistry(stores["namespaces"], authorizer, clock)
        config_maps = ConfigMapRegistry(stores["configmaps"], authorizer, clock)
        events = EventRegistry(stores["events"], authorizer, clock)
        roles = RoleRegistry(stores["roles"], authorizer, clock, policy)
        cluster_roles = ClusterRoleRegistry(stores["clusterroles"], authorizer, clock, policy)
        role_bindings = RoleBindingRegistry(stores["rolebindings"], authorizer, clock, policy)
        cluster_role_bindings = ClusterRoleBindingRegistry(stores["clusterrolebindings"], authorizer, clock, policy)
        namespaces.contents = (config_maps, events, roles, role_bindings)
        bootstrap.reconcile(namespaces, [bootstrap.namespace(name) for name in bootstrap.NAMESPACES])
        bootstrap.reconcile(cluster_roles, bootstrap.cluster_roles())
        unwanted = () if self._self_renewal else (bootstrap.SELF_RENEWAL_BINDING,)
        wanted = bootstrap.cluster_role_bindings(self_renewal=self._self_renewal)
        bootstrap.reconcile(cluster_role_bindings, wanted, unwanted)
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        return [
            Served("/api/v1/namespaces", namespaces, (), NAMESPACE_FIELDS, namespace_table),
            Served("/api/v1/configmaps", config_maps, (), NAMESPACED_FIELDS, config_map_table),
            Served("/api/v1/events", events, (), EVENT_FIELDS, event_table),
            Served(f"{rbac}/roles", roles, (), NAMESPACED_FIELDS, role_table),
            Served(f"{rbac}/clusterroles", cluster_roles, (), CLUSTER_FIELDS, role_table),
            Served(f"{rbac}/rolebindings", role_bindings, (), NAMESPACED_FIELDS, binding_table),
            Served(f"{rbac}/clusterrolebindings", cluster_role_bindings, (), CLUSTER_FIELDS, binding_table),
        ]

    def node_kubeconfig(self, node: str) -> Path:
        """A kubeconfig for node `node` (CN system:node:<node>, O system:nodes), in DIR/nodes/<node>.kubeconfig."""
        return write_node_kubeconfig(self.data_dir, self.url, node, self._clock())

    def user_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for person `user` in `groups` (client certificate), in DIR/users/<user>.kubeconfig."""
        return write_user_kubeconfig(self.data_dir, self.url, user, groups, self._clock())

    def run_controllers(self) -> None:
        """One pass of the signer and the cleaner, now (tests that move the clock use it instead of waiting)."""
        assert self._controllers is not None, "the dev cluster is not running"
        self._controllers.reconcile()

    def __enter__(self) -> DevCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _write_kubeconfigs(self, ca: DevCa, now: datetime.datetime) -> None:
        admin = ca.client_key_pair(ADMIN_USER, [MASTERS], now)
        admin_config = kubeconfig(
            self.url,
            ca.certificate_pem,
            ADMIN_USER,
            client_certificate_credentials(admin.certificate_pem, admin.key_pem),
        )
        write_kubeconfig(self.admin_kubeconfig, admin_config)
        approver_config = kubeconfig(
            self.url, ca.certificate_pem, APPROVER_USER, token_credentials(self.approver_token)
        )
        write_kubeconfig(self.approver_kubeconfig, approver_config)


def run_dev_cluster(
    data_dir: Path, port: int, out: IO[str], signing_delay: float = 0.0, bookmark_interval: float = 60.0
) -> int:
    """Run in the foreground until SIGINT or SIGTERM; print where things are once ready."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    cluster = DevCluster(data_dir, port, signing_delay=signing_delay, bookmark_interval=bookmark_interval)
    try:
        cluster.start()
        out.write(
            f"csrgate dev cluster: serving {cluster.url}\n"
            f"  admin:    KUBECONFIG={cluster.admin_kubeconfig}\n"
            f"  approver: KUBECONFIG={cluster.approver_kubeconfig}\n"
            f"  CA:       {cluster.ca_path}\n"
            "stop with Ctrl-C\n"
        )
        out.flush()
        while not stopping.wait(0.5):
            pass
    finally:
        cluster.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _load_or_create_token(path: Path) -> str:
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token


def _tls_context(ca: DevCa, now: datetime.datetime) -> ssl.SSLContext:
    """Serve the cluster's certificate; ask for client certificates and verify them against the CA if sent."""
    serving = ca.serving_key_pair(now)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    with tempfile.TemporaryDirectory() as scratch:
        cert_file, key_file = Path(scratch) / "serving.crt", Path(scratch) / "serving.key"
        cert_file.write_bytes(serving.certificate_pem + ca.certificate_pem)
        key_file.write_bytes(serving.key_pem)
        context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cadata=ca.certificate_pem.decode("ascii"))
    # kube-apiserver asks for a client certificate without requiring one; bearer tokens and anonymous health
    # checks come without. Python's ssl can only ask-and-verify, so a certificate from another CA fails the
    # handshake here where kube-apiserver would answer 401.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


class _TlsServer(ThreadingHTTPServer):
    """A threading HTTP server whose connections are TLS, handshaken in the connection's own thread."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        authenticator: Authenticator,
    ) -> None:
        super().__init__(address, handler)
        self.context = context
        self.authenticator = authenticator
        self.api: Api | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def get_request(self) -> tuple[Any, Any]:
        connection, address = self.socket.accept()
        # as Go's net package does for every TCP connection: without it an answer's body waits for the client to
        # acknowledge its headers, which a client waiting for the rest delays by up to 40 ms (Nagle, delayed ACK)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address

    def track(self, connection: socket.socket, open_: bool) -> None:
        """Remember open connections, so stop() can close idle keep-alive ones too."""
        with self._lock:
            if open_:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut every open connection down."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        LOG.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Reads one request at a time off a TLS connection and writes back what the Api answers."""

    protocol_version = "HTTP/1.1"
    server: _TlsServer
    timeout = IDLE_TIMEOUT
    server_version = "csrgate-devstack"
    sys_version = ""

    def setup(self) -> None:
        self.request.settimeout(IDLE_TIMEOUT)
        self.request.do_handshake()
        self.server.track(self.request, True)
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        LOG.debug(format, *args)

    def _serve(self) -> None:
        started = time.monotonic()
        user: UserInfo | None = None
        try:
            body = self._read_body()
            user = self._authenticate()
            split = urlsplit(self.path)
            query: dict[str, str] = {}
            for key, value in parse_qsl(split.query, keep_blank_values=True):
                query.setdefault(key, value)  # the first value wins, as url.Values.Get
            headers = _Headers(self.headers)
            assert self.server.api is not None
            answer = self.server.api.handle(Request(self.command, split.path, query, headers, body, user))
        except _BodyError as exc:
            answer = exc.response
            self.close_connection = True
        except Exception as exc:  # a bug answers 500 and the server keeps serving
            LOG.exception("error handling %s %s", self.command, self.path)
            error = internal_error(f"{type(exc).__name__}: {exc}")
            answer = json_response(error.code, error.status())
        code = self._write(answer)
        ACCESS_LOG.info(
            "%s %s %s user=%s %.0fms",
            self.command,
            self.path,
            code,
            user.username if user else "-",
            (time.monotonic() - started) * 1000,
        )

    def _authenticate(self) -> UserInfo | None:
        certificate = self.request.getpeercert(binary_form=True) if isinstance(self.request, ssl.SSLSocket) else None
        return self.server.authenticator.authenticate(certificate, self.headers.get("Authorization"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise _BodyError(ApiError(411, "LengthRequired", "chunked request bodies are not accepted"))
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            raise _BodyError(bad_request("Content-Length is not a number")) from None
        if length < 0:
            raise _BodyError(bad_request("Content-Length is negative"))
        if length > MAX_BODY_BYTES:
            if length <= 4 * MAX_BODY_BYTES:  # drain a near miss, so the client gets to read the answer
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(65536, remaining))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            raise _BodyError(too_large(MAX_BODY_BYTES))
        return self.rfile.read(length) if length else b""

    def _write(self, answer: Response | Stream) -> int:
        if isinstance(answer, Response):
            self.send_response(answer.code)
            self.send_header("Content-Type", answer.content_type)
            self.send_header("Content-Length", str(len(answer.body)))
            self.send_header("Cache-Control", "no-cache, private")
            for name, value in answer.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
            return answer.code
        self.send_response(answer.code)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.flush()
        try:
            for chunk in answer.chunks:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client went away mid-watch
        finally:
            close = getattr(answer.chunks, "close", None)
            if close is not None:
                close()
        return answer.code


class _BodyError(Exception):
    """A body the server will not read; the connection is closed after the answer."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.response = json_response(error.code, error.status())


class _Headers(dict[str, str]):
    """Case-insensitive header lookup over http.server's message."""

    def __init__(self, message: email.message.Message) -> None:
        super().__init__({key.lower(): value for key, value in message.items()})

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)
