"""What Kubernetes reads from a CSR's spec.request, asked of Go itself.

The program in devstack/gocsr reads spec.request with Go's encoding/pem and crypto/x509 as kube-apiserver and the
in-tree signers do. It is built with `go build` into a cache directory (never into the repository), keyed on its
source and the Go version, and run as one long-lived helper process that answers a JSON line per request.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

SOURCE_DIR = Path(__file__).with_name("gocsr")
INSTALL_HINT = "apt-get install golang-go"
_SOURCES = ("go.mod", "main.go")
_BUILD_TIMEOUT = 300.0  # a cold Go build cache on a busy machine


class GoUnavailable(RuntimeError):
    """Go is not installed, or the helper could not be built or run."""


class GoCsrReader:
    """The gocsr helper as a long-lived process; safe to share between threads."""

    def __init__(self, go: str | None = None, cache_dir: Path | None = None) -> None:
        self._go = go
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        """Whether `go` is on the PATH, so the helper can be built."""
        return shutil.which("go") is not None

    @staticmethod
    def missing_reason() -> str:
        """What to do when `go` is missing, in one line."""
        return f"Go is not installed (`go` is not on the PATH): {INSTALL_HINT}"

    def read(self, request: bytes) -> dict[str, Any]:
        """What Kubernetes reads from these spec.request bytes: the PEM block, ParseCSR's error, or the CSR."""
        line = json.dumps({"request": base64.b64encode(request).decode("ascii")}).encode("ascii") + b"\n"
        with self._lock:
            try:
                return self._ask(line)
            except (OSError, EOFError):
                self._stop_locked()  # a helper that died (killed, out of memory) is started once more
            try:
                return self._ask(line)
            except (OSError, EOFError) as exc:
                self._stop_locked()
                raise GoUnavailable(f"the gocsr helper stopped answering: {exc or 'no output'}") from exc

    def start(self) -> GoCsrReader:
        """Build (when not cached) and start the helper now instead of on the first read."""
        with self._lock:
            self._running()
        return self

    def close(self) -> None:
        """End the helper process."""
        with self._lock:
            self._stop_locked()

    def _ask(self, line: bytes) -> dict[str, Any]:
        process = self._running()
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(line)
        process.stdin.flush()
        answer = process.stdout.readline()
        if not answer:
            raise EOFError("the helper closed its output")
        return _loaded(answer)

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        binary = build_helper(self._go, self._cache_dir)
        self._process = subprocess.Popen(
            [str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        return self._process

    def _stop_locked(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            _close_quietly(stream)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def build_helper(go: str | None = None, cache_dir: Path | None = None) -> Path:
    """The gocsr binary for the current source and Go, built into the cache when it is not there yet."""
    go = go or shutil.which("go")
    if go is None:
        raise GoUnavailable(GoCsrReader.missing_reason())
    if not all((SOURCE_DIR / name).is_file() for name in _SOURCES):
        raise GoUnavailable(f"the gocsr source is not in {SOURCE_DIR} (csrgate is installed without its devstack)")
    cache = cache_dir or _cache_root()
    binary = cache / _build_key(go) / "gocsr"
    if binary.exists():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GOWORK": "off", "GOPROXY": "off", "GOTOOLCHAIN": "local", "GO111MODULE": "on", "GOFLAGS": ""}
    if not (os.environ.get("GOCACHE") or os.environ.get("XDG_CACHE_HOME") or os.environ.get("HOME")):
        env["GOCACHE"] = str(cache / "go-build")  # go refuses to build without a build cache
    # built under a temporary name and renamed, so concurrent builders never run a half-written binary
    partial = binary.with_name(f"gocsr.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        built = subprocess.run(
            [go, "build", "-o", str(partial), "."],
            cwd=SOURCE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=_BUILD_TIMEOUT,
            check=False,
        )
        if built.returncode != 0:
            raise GoUnavailable(f"`go build` of {SOURCE_DIR} failed: {built.stderr.strip()[:2000]}")
        os.replace(partial, binary)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GoUnavailable(f"`go build` of {SOURCE_DIR} could not run: {exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return binary


@functools.cache
def shared_reader() -> GoCsrReader | None:
    """One helper for this process (ended at exit), or None when Go is not installed or cannot build it."""
    if not GoCsrReader.available():
        return None
    try:
        reader = GoCsrReader().start()
    except GoUnavailable:
        return None
    atexit.register(reader.close)
    return reader


def _loaded(answer: bytes) -> dict[str, Any]:
    result = json.loads(answer)
    if not isinstance(result, dict) or result.get("input_error"):
        raise GoUnavailable(f"the gocsr helper did not understand its input: {answer[:200]!r}")
    return result


def _build_key(go: str) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (SOURCE_DIR / name).read_bytes() + b"\0")
    try:
        version = subprocess.run([go, "version"], capture_output=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GoUnavailable(f"`{go} version` failed: {exc}") from exc
    digest.update(version)
    return digest.hexdigest()[:20]


def _cache_root() -> Path:
    """The user's cache directory when it is writable, else one of this user's own under the temp directory."""
    candidates = [Path(tempfile.gettempdir()) / f"csrgate-{os.getuid()}" / "gocsr"]
    base = os.environ.get("XDG_CACHE_HOME") or (os.environ.get("HOME") and os.path.join(os.environ["HOME"], ".cache"))
    if base:
        candidates.insert(0, Path(base) / "csrgate" / "gocsr")
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    raise GoUnavailable("no writable cache directory for the gocsr helper")


def _close_quietly(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()
