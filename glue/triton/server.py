"""Run a real ``tritonserver`` process on loopback (local demo, tests, benchmarks).

The binary comes from the ``nvidia-pytriton`` wheel (Triton 2.51 with the python backend) unless a
path is given. The wheel's python backend only works when (see docs in ``TOOLING.md``):

1. the backend directory is our own ``<workdir>/backends/python/`` holding symlinks to the wheel's
   ``libtriton_python.so``, ``triton_python_backend_utils.py`` and the
   ``triton_python_backend_stub`` built for this interpreter's ``major.minor``;
2. ``LD_LIBRARY_PATH`` holds this interpreter's ``LIBDIR`` (the stub links ``libpython``);
3. ``PATH`` starts with this interpreter's ``bin`` directory (the stub finds packages only through
   the ``python`` on ``PATH``; it ignores ``PYTHONPATH``);
4. that environment has ``numpy<2``.

Only Linux x86_64 with glibc >= 2.35 and Python 3.8-3.13 is supported (what the wheel ships).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import platform
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

#: Python versions the wheel ships a backend stub for (``python_backend_stubs/<x.y>/``).
SUPPORTED_PYTHON = ((3, 8), (3, 13))
MIN_GLIBC = (2, 35)


class TritonServerError(RuntimeError):
    """The server could not be found, started, or did not become live (message has the log tail)."""


class UnsupportedPlatform(TritonServerError):  # noqa: N818 - reads as a state in `except` clauses
    """This machine cannot run the wheel's ``tritonserver`` (OS, CPU, glibc or Python version)."""


@dataclass(frozen=True)
class TritonInstall:
    """Where the server binary and the python backend files live.

    Attributes:
        binary: the ``tritonserver`` executable.
        python_backend: directory holding ``libtriton_python.so`` and
            ``triton_python_backend_utils.py``.
        stub: the ``triton_python_backend_stub`` executable for the serving interpreter.
    """

    binary: Path
    python_backend: Path
    stub: Path


def check_platform(python_version: tuple[int, int] | None = None) -> None:
    """Raise ``UnsupportedPlatform`` unless this is Linux x86_64, glibc >= 2.35, Python 3.8-3.13.

    Args:
        python_version: ``(major, minor)`` of the interpreter the backend stub runs; defaults to
            the running interpreter.
    """
    system, machine = platform.system(), platform.machine()
    if system != "Linux" or machine not in ("x86_64", "AMD64"):
        raise UnsupportedPlatform(
            f"tritonserver from nvidia-pytriton runs on Linux x86_64 only, not {system} {machine}"
        )
    libc, libc_version = platform.libc_ver()
    try:
        glibc = tuple(int(p) for p in libc_version.split(".")[:2])
    except ValueError:
        glibc = ()
    if libc != "glibc" or glibc < MIN_GLIBC:
        raise UnsupportedPlatform(
            f"tritonserver from nvidia-pytriton needs glibc >= 2.35, found {libc} {libc_version!r}"
        )
    version = python_version or (sys.version_info.major, sys.version_info.minor)
    if not SUPPORTED_PYTHON[0] <= version <= SUPPORTED_PYTHON[1]:
        raise UnsupportedPlatform(
            f"the python backend stub exists for Python 3.8-3.13, not {version[0]}.{version[1]}"
        )


def find_pytriton_install(
    binary: Path | None = None, python_version: tuple[int, int] | None = None
) -> TritonInstall:
    """Locate the server binary and python backend files shipped by ``nvidia-pytriton``.

    Args:
        binary: use this ``tritonserver`` instead of the wheel's (backend files still come from
            the wheel).
        python_version: ``(major, minor)`` of the stub to use; defaults to the running interpreter.

    Raises:
        UnsupportedPlatform: the platform cannot run it.
        TritonServerError: ``nvidia-pytriton`` is not installed or a file is missing.
    """
    check_platform(python_version)
    version = python_version or (sys.version_info.major, sys.version_info.minor)
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise TritonServerError(
            "nvidia-pytriton is not installed: install the 'demo' extra "
            "(pip install -c constraints/serving.txt -e '.[demo]')"
        )
    home = Path(next(iter(spec.submodule_search_locations))) / "tritonserver"
    install = TritonInstall(
        binary=binary or home / "bin" / "tritonserver",
        python_backend=home / "backends" / "python",
        stub=home
        / "python_backend_stubs"
        / f"{version[0]}.{version[1]}"
        / "triton_python_backend_stub",
    )
    for path in (
        install.binary,
        install.python_backend / "libtriton_python.so",
        install.python_backend / "triton_python_backend_utils.py",
        install.stub,
    ):
        if not path.is_file():
            raise TritonServerError(f"{path} is missing from the nvidia-pytriton installation")
    return install


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now (another process may take them)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


class TritonServerProcess:
    """One ``tritonserver`` in explicit model-control mode, listening on 127.0.0.1 only.

    Use as a context manager (start + wait until live; stop on exit) or call ``start``,
    ``wait_live`` and ``stop`` yourself. Ports are picked free at ``start`` (HTTP, gRPC, metrics).

    Args:
        model_repository: the model repository directory (or ``s3://`` URI) the server reads.
        workdir: a directory of ours for the backend directory and ``tritonserver.log``.
        binary: a ``tritonserver`` executable; default: the one in ``nvidia-pytriton``.
        python_bin: directory whose ``python`` the backend stub uses (put first on ``PATH``);
            default: this interpreter's (``dirname(sys.executable)``, the venv's ``bin``).
        extra_args: more command line arguments (e.g. ``["--log-verbose=1"]``).
        env: extra environment variables for the server (``environment`` lists the defaults).
        exit_timeout: seconds Triton itself waits for in-flight requests and open HTTP connections
            after SIGTERM (``--exit-timeout-secs``; Triton's default is 30).
        stop_timeout: seconds ``stop`` waits after SIGTERM before SIGKILL.
        shm_prefix: name prefix of the python backend's shared-memory regions
            (``/dev/shm/<shm_prefix>*``, ``--backend-config=python,shm-region-prefix-name=``);
            default: one unique to this object. ``stop`` removes the regions a killed server
            or stub left behind (``remove_shm_regions``).

    Raises (at construction): ``UnsupportedPlatform``, ``TritonServerError`` (files missing).
    """

    def __init__(
        self,
        model_repository: Path | str,
        workdir: Path,
        *,
        binary: Path | None = None,
        python_bin: Path | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        exit_timeout: int = 5,
        stop_timeout: float = 15.0,
        shm_prefix: str | None = None,
    ) -> None:
        self.install = find_pytriton_install(binary)
        self.model_repository = model_repository
        self.workdir = Path(workdir)
        self.python_bin = python_bin or Path(sys.executable).parent
        self.extra_args = list(extra_args or [])
        self.extra_env = dict(env or {})
        self.exit_timeout = exit_timeout
        self.stop_timeout = stop_timeout
        self.shm_prefix = shm_prefix or unique_shm_prefix()
        self.log_path = self.workdir / "tritonserver.log"
        self.http_port = self.grpc_port = self.metrics_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    # -- properties -----------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        """``http://127.0.0.1:<http_port>`` (valid after ``start``)."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """``127.0.0.1:<grpc_port>`` (valid after ``start``)."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        """``http://127.0.0.1:<metrics_port>/metrics`` (valid after ``start``)."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def pid(self) -> int | None:
        """Process id of the running server, None before ``start`` or after ``stop``."""
        return self._process.pid if self._process is not None else None

    def running(self) -> bool:
        """True while the server process exists and has not exited."""
        return self._process is not None and self._process.poll() is None

    # -- lifecycle ------------------------------------------------------------------------------

    def backend_directory(self) -> Path:
        """Create ``<workdir>/backends/python/`` (idempotent) with symlinks to the wheel's files.

        Returns ``<workdir>/backends``, the ``--backend-directory``.
        """
        python_dir = self.workdir / "backends" / "python"
        python_dir.mkdir(parents=True, exist_ok=True)
        links = {
            "libtriton_python.so": self.install.python_backend / "libtriton_python.so",
            "triton_python_backend_utils.py": self.install.python_backend
            / "triton_python_backend_utils.py",
            "triton_python_backend_stub": self.install.stub,
        }
        for name, target in links.items():
            link = python_dir / name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and Path(os.readlink(link)) == target:
                    continue
                link.unlink()
            link.symlink_to(target)
        return python_dir.parent

    def environment(self) -> dict[str, str]:
        """The server's environment: ours + LD_LIBRARY_PATH, PATH, and no cloud metadata probes."""
        env = dict(os.environ)
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p
        )
        env["PATH"] = os.pathsep.join(p for p in (str(self.python_bin), env.get("PATH", "")) if p)
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(self.extra_env)
        return env

    def command(self) -> list[str]:
        """The full command line (valid after ports are chosen)."""
        return [
            str(self.install.binary),
            f"--model-repository={self.model_repository}",
            "--model-control-mode=explicit",
            "--disable-auto-complete-config",
            "--strict-readiness=true",
            "--http-address=127.0.0.1",
            f"--http-port={self.http_port}",
            "--grpc-address=127.0.0.1",
            f"--grpc-port={self.grpc_port}",
            "--metrics-address=127.0.0.1",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--backend-directory={self.backend_directory()}",
            "--log-info=true",
            f"--exit-timeout-secs={self.exit_timeout}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            *self.extra_args,
        ]

    def start(self, ports: tuple[int, int, int] | None = None) -> None:
        """Launch the server (returns at once; call ``wait_live``). Output goes to ``log_path``.

        Args:
            ports: ``(http, grpc, metrics)`` to listen on; default: three picked free now.

        Raises ``TritonServerError`` if it is already running or cannot be executed.
        """
        if self.running():
            raise TritonServerError(f"tritonserver already running (pid {self.pid})")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.http_port, self.grpc_port, self.metrics_port = ports or free_ports(3)
        command = self.command()
        with self.log_path.open("ab") as log:
            log.write(f"--- start {' '.join(command)}\n".encode())
            log.flush()
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.environment(),
                    cwd=self.workdir,
                    start_new_session=True,  # its own process group: stop() reaches the stubs
                )
            except OSError as exc:
                raise TritonServerError(f"cannot execute {command[0]}: {exc}") from exc

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log ('' if there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_live(self, timeout: float = 30.0) -> None:
        """Block until ``GET /v2/health/live`` answers 200.

        Args:
            timeout: seconds to wait.

        Raises:
            TritonServerError: the process exited, or it was not live within ``timeout`` (the
                message carries the log tail).
        """
        if self._process is None:
            raise TritonServerError("tritonserver was not started")
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as http:
            while True:
                code = self._process.poll()
                if code is not None:
                    raise TritonServerError(
                        f"tritonserver exited with code {code} before it was live; log "
                        f"{self.log_path}:\n{self.log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if http.get(f"{self.http_url}/v2/health/live").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TritonServerError(
                        f"tritonserver not live after {timeout:.1f}s; log {self.log_path}:\n"
                        f"{self.log_tail()}"
                    )
                time.sleep(0.05)

    def stop(self) -> int | None:
        """SIGTERM the server, SIGKILL its process group after ``stop_timeout`` s; reap the pid.

        Returns the exit code (None if it was never started). Idempotent.
        """
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Stubs left behind by a crash or a kill share the server's process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        self._process = None
        remove_shm_regions(self.shm_prefix)
        return process.returncode

    def rss_bytes(self, *, include_children: bool = True) -> int:
        """Resident memory of the server in bytes (with its backend stub processes by default).

        Returns 0 when the server is not running. Reads ``/proc``.
        """
        if not self.running() or self.pid is None:
            return 0
        pids = [self.pid]
        if include_children:
            pids += _descendants(self.pid)
        return sum(_rss(pid) for pid in pids)

    def __enter__(self) -> TritonServerProcess:
        attempts = 3
        for attempt in range(attempts):
            self.start()
            try:
                self.wait_live()
                return self
            except TritonServerError as exc:
                self.stop()
                port_taken = "address already in use" in str(exc).lower()
                if not port_taken or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def unique_shm_prefix() -> str:
    """A python-backend shared-memory prefix no other server uses: ``kubeai_<pid>_<hex>_``."""
    return f"kubeai_{os.getpid()}_{uuid.uuid4().hex[:8]}_"


#: Where POSIX shared memory (the python backend's regions) appears as files.
SHM_DIR = Path("/dev/shm")  # noqa: S108 - the system's shared-memory mount, not a temp file


def remove_shm_regions(prefix: str, shm_dir: Path = SHM_DIR) -> list[Path]:
    """Remove ``<shm_dir>/<prefix>*`` (regions of a stopped server); returns what was removed.

    An empty ``prefix`` removes nothing (it would match every region of every user).
    """
    if not prefix:
        return []
    removed = []
    for path in shm_dir.glob(f"{glob.escape(prefix)}*"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            path.unlink()
            removed.append(path)
    return removed


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
