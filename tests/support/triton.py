"""A real tritonserver for the test session, tiny python-backend models, and a fault proxy.

``triton_server`` starts ONE ``tritonserver`` (from nvidia-pytriton, explicit model control) per
session on loopback with a temporary model repository (each stop costs seconds, so tests share
it and use their own model names). Tests skip with the reason when this machine cannot run it.

``write_model`` writes a Triton model directory whose python model answers ``OUTPUT = INPUT * k``
with ``k`` read from ``<version>/k.txt``, so a test sees which version answered.

``FaultProxy`` is an HTTP reverse proxy on 127.0.0.1 in front of a real server whose answers a
test can replace per request (e.g. answer Triton's load with 200 without forwarding it).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from glue.triton.server import TritonServerError, TritonServerProcess

MODEL_PY = """\
import os
import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        here = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(here, "k.txt")) as f:
            self.k = float(f.read())
        if {fail!r}:
            raise RuntimeError("initialize failed on purpose")
        time.sleep({delay!r})
        with open(os.path.join(args["model_repository"], "..", "..", "inits.log"), "a") as f:
            f.write(args["model_name"] + " " + args["model_version"] + "\\n")

    def execute(self, requests):
        responses = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "INPUT").as_numpy()
            out = pb_utils.Tensor("OUTPUT", (x * self.k).astype(np.float32))
            responses.append(pb_utils.InferenceResponse([out]))
        return responses
"""

CONFIG_PBTXT = """\
name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "INPUT" data_type: TYPE_FP32 dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT" data_type: TYPE_FP32 dims: [ -1 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
{extra}"""


def write_model(
    root: Path,
    name: str,
    k: float,
    *,
    version_dir: str = "1",
    fail_init: bool = False,
    init_delay: float = 0.0,
    config_extra: str = "",
) -> Path:
    """Write a model directory ``root`` (config.pbtxt + ``<version_dir>/model.py`` + ``k.txt``).

    Args:
        root: the directory to create (the artifact root or ``<repo>/<name>``).
        name: the model name written into config.pbtxt.
        k: the factor the model multiplies its input by.
        version_dir: name of the version directory.
        fail_init: make ``initialize`` raise (the load fails).
        init_delay: seconds ``initialize`` sleeps (a slower load).
        config_extra: text appended to config.pbtxt.

    Each successful initialize appends ``"<name> <version>"`` to ``inits.log`` beside the model
    repository (read it with ``inits``), so tests can count loads.
    """
    version = root / version_dir
    version.mkdir(parents=True, exist_ok=True)
    (root / "config.pbtxt").write_text(CONFIG_PBTXT.format(name=name, extra=config_extra))
    (version / "model.py").write_text(MODEL_PY.format(fail=fail_init, delay=init_delay))
    (version / "k.txt").write_text(f"{k}\n")
    return root


def infer(
    url: str, model: str, values: list[float], *, client: httpx.Client | None = None
) -> tuple[int, list[float]]:
    """POST ``/v2/models/<model>/infer``; returns (answering version, outputs).

    Raises ``httpx.HTTPStatusError`` on a non-200 answer.
    """
    body = {
        "inputs": [{"name": "INPUT", "datatype": "FP32", "shape": [len(values)], "data": values}]
    }
    http = client or httpx.Client(timeout=10)
    try:
        response = http.post(f"{url}/v2/models/{model}/infer", json=body)
        response.raise_for_status()
        data = response.json()
    finally:
        if client is None:
            http.close()
    return int(data["model_version"]), [float(v) for v in data["outputs"][0]["data"]]


def inits(repository: Path, model: str) -> list[int]:
    """Versions of ``model`` initialised so far (in order), from ``<repository>/../inits.log``."""
    log = repository.parent / "inits.log"
    if not log.exists():
        return []
    return [
        int(v) for m, v in (line.split() for line in log.read_text().splitlines()) if m == model
    ]


@dataclass
class TritonFixture:
    """The session's server: ``url`` (HTTP), ``repository`` (model repository directory)."""

    server: TritonServerProcess
    repository: Path

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.server.http_url


@pytest.fixture(scope="session")
def triton_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonFixture]:
    """One real tritonserver for the whole session (explicit model control, loopback only)."""
    base = tmp_path_factory.mktemp("triton")
    repository = base / "repository"
    repository.mkdir()
    try:
        server = TritonServerProcess(repository, base / "work")
    except TritonServerError as exc:  # UnsupportedPlatform or nvidia-pytriton missing
        pytest.skip(f"tritonserver cannot run here: {exc}")
    with server:
        yield TritonFixture(server=server, repository=repository)


# -- fault-injecting HTTP proxy -------------------------------------------------------------------

#: What a rule returns: None = forward; ``(status, body)`` = answer that without forwarding;
#: ``"drop"`` = close the connection without an answer.
Action = tuple[int, bytes] | str | None
Rule = Callable[[str, str], Action]

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "content-encoding",
}


class FaultProxy:
    """HTTP/1.1 reverse proxy on 127.0.0.1 to ``upstream``; ``rule(method, path)`` may intervene.

    Records every request as ``(method, path)`` in ``requests`` and its body in ``bodies`` (same
    order). Use as a context manager.
    """

    def __init__(self, upstream: str, rule: Rule | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rule: Rule = rule or (lambda method, path: None)
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(base_url=self.upstream, timeout=120)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.requests.append((self.command, self.path))
                    proxy.bodies.append(body)
                action = proxy.rule(self.command, self.path)
                if action == "drop":
                    self.close_connection = True
                    return
                if isinstance(action, tuple):
                    status, payload = action
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}
                }
                try:
                    upstream = proxy._client.request(
                        self.command, self.path, content=body, headers=headers
                    )
                except httpx.HTTPError:
                    self.close_connection = True
                    return
                self.send_response(upstream.status_code)
                for key, value in upstream.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(upstream.content)))
                self.end_headers()
                self.wfile.write(upstream.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the proxy."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, method: str, pattern: str) -> int:
        """How many recorded requests had ``method`` and a path matching regex ``pattern``."""
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and re.search(pattern, p))

    def load_versions(self, model: str) -> list[list[int]]:
        """The ``version_policy.specific.versions`` of each load request for ``model``, in order
        (``[]`` for a load without a config override)."""
        path = f"/v2/repository/models/{model}/load"
        result = []
        with self._lock:
            for (method, p), body in zip(self.requests, self.bodies, strict=True):
                if method != "POST" or p != path:
                    continue
                config = json.loads(
                    json.loads(body or b"{}").get("parameters", {}).get("config", "{}")
                )
                specific = config.get("version_policy", {}).get("specific", {})
                result.append([int(v) for v in specific.get("versions", [])])
        return result

    def start(self) -> FaultProxy:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the upstream connections."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05
) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
