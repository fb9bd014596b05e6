"""Client of one tritonserver's model repository API (explicit model-control mode).

Repository control (index, load with an optional ``config`` override JSON, unload) goes over
Triton's gRPC endpoint when ``grpc_url`` is given (``tritonclient.grpc``), else over HTTP
(``tritonclient.http``: ``POST /v2/repository/index``, ``.../models/<m>/load``, ``.../unload``).
Health and readiness reads always use HTTP.

Why gRPC: Triton's HTTP server (2.51) answers a load on one of its ``--http-thread-count`` worker
threads and holds that thread until the load finished; every inference request on a connection
served by that thread waits as long (triton-inference-server/server issues #8958, #8117). Measured
here: requests sent right after an HTTP load call began waited the whole 2.4 s load. gRPC
requests are served by Triton's gRPC threads, so a load never holds up HTTP inference.

Triton answers a load only after the load finished, but success is not taken as proof:
``wait_ready`` confirms every version is READY in the repository index.

All control calls to one server (same URL) are serialised by one process-wide lock, so two
threads never interleave a load and an unload of the same server. A fresh tritonclient client is
made per call (its gevent-based connection pool must not cross threads; a gRPC channel per call
keeps the two paths alike), and on loopback a connection costs well under a millisecond.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

T = TypeVar("T")

#: Index states of a version Triton holds: loaded, being loaded or being unloaded.
SERVING_STATES = ("READY", "LOADING", "UNLOADING")

#: gRPC status codes (``InferenceServerException.status()``) meaning "not reached / no answer in
#: time" rather than "refused".
GRPC_UNREACHABLE = ("StatusCode.UNAVAILABLE", "StatusCode.DEADLINE_EXCEEDED")

_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class TritonError(Exception):
    """Base class: the server refused a repository control request."""


class TritonUnavailable(TritonError):  # noqa: N818 - reads as a state in `except` clauses
    """The server could not be reached or did not answer in time."""


class TritonLoadError(TritonError):
    """A load was refused, or the model did not become READY (``reason`` holds Triton's text).

    Attributes:
        model: model name.
        versions: the versions that were expected READY.
        reason: Triton's error text or why waiting gave up.
        timed_out: True when the versions did not turn READY in time (no error from Triton).
    """

    def __init__(
        self, model: str, versions: Iterable[int], reason: str, *, timed_out: bool = False
    ) -> None:
        self.model = model
        self.versions = sorted(versions)
        self.reason = reason.strip()
        self.timed_out = timed_out
        shown = ",".join(map(str, self.versions))
        where = f"model {model!r} version(s) {shown}" if shown else f"model {model!r}"
        super().__init__(f"{where}: {self.reason}")


@dataclass(frozen=True)
class RepositoryEntry:
    """One row of ``/v2/repository/index``.

    Attributes:
        name: model name.
        version: version number, or None for a model directory Triton has never loaded.
        state: ``READY``, ``LOADING``, ``UNLOADING``, ``UNAVAILABLE`` or ``""`` (never loaded).
        reason: why a version is UNAVAILABLE (``"unloaded"`` after an unload), else ``""``.
    """

    name: str
    version: int | None
    state: str
    reason: str


def _server_lock(url: str) -> threading.RLock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(url, threading.RLock())


def parse_grpc_address(value: str) -> str:
    """``host:port`` of a gRPC endpoint (``grpc://`` prefix allowed); port 1..65535.

    Raises ``ValueError`` naming the value when it is not ``host:port``.
    """
    address = value.removeprefix("grpc://")
    host, sep, port = address.rpartition(":")
    if not sep or not host or "/" in address or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"triton grpc url {value!r} must be host:port (port 1-65535)")
    return address


class TritonRepository:
    """Model repository API of the server at ``url`` (``http://127.0.0.1:8000`` or ``host:port``).

    Args:
        url: the server's HTTP endpoint (health, readiness; control too without ``grpc_url``).
        grpc_url: the same server's gRPC endpoint, ``host:port``; when given, index, load and
            unload go there, so a load never blocks an HTTP worker thread (module docstring).
        timeout: seconds for connecting and for index/unload requests.
        load_timeout: seconds a load request may take (Triton answers when loading finished).

    Raises ``ValueError`` when ``url`` is not ``http://host:port`` or ``grpc_url`` not
    ``host:port``.
    """

    def __init__(
        self,
        url: str,
        *,
        grpc_url: str | None = None,
        timeout: float = 10.0,
        load_timeout: float = 600.0,
    ) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError(f"triton url {url!r} must be http://host:port")
        self.url = f"http://{parts.netloc}"
        self._address = parts.netloc
        self.grpc_address = parse_grpc_address(grpc_url) if grpc_url else None
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._lock = _server_lock(self.url)

    @property
    def control(self) -> str:
        """Where repository control goes: ``grpc://host:port`` or the HTTP ``url``."""
        return f"grpc://{self.grpc_address}" if self.grpc_address else self.url

    # -- plumbing -------------------------------------------------------------------------------

    def _call(
        self, what: str, fn: Callable[[Any], T], *, network_timeout: float, locked: bool = True
    ) -> T:
        client = triton_http.InferenceServerClient(
            self._address, connection_timeout=self.timeout, network_timeout=network_timeout
        )
        try:
            if not locked:
                return fn(client)
            with self._lock:
                return fn(client)
        except (OSError, http.client.HTTPException) as exc:
            raise TritonUnavailable(f"tritonserver {self.url} unreachable ({what}): {exc}") from exc
        finally:
            client.close()

    def _grpc_call(self, what: str, fn: Callable[[Any], T]) -> T:
        """Run ``fn(client)`` with a fresh gRPC client under the server's control lock."""
        client = triton_grpc.InferenceServerClient(self.grpc_address)
        try:
            with self._lock:
                return fn(client)
        except InferenceServerException as exc:
            if exc.status() in GRPC_UNREACHABLE:
                raise TritonUnavailable(
                    f"tritonserver {self.control} unreachable ({what}): {exc.message()}"
                ) from exc
            raise
        finally:
            client.close()

    def _control(
        self,
        what: str,
        over_http: Callable[[Any], T],
        over_grpc: Callable[[Any, float], T],
        *,
        timeout: float,
    ) -> T:
        """A repository-control call over gRPC when configured, else over HTTP.

        ``over_grpc`` gets the client and the call's deadline in seconds (``client_timeout``).
        """
        if self.grpc_address:
            return self._grpc_call(what, lambda c: over_grpc(c, timeout))
        return self._call(what, over_http, network_timeout=timeout)

    # -- API ------------------------------------------------------------------------------------

    def is_live(self) -> bool:
        """True if ``/v2/health/live`` answers 200; never raises."""
        try:
            return bool(
                self._call("live", lambda c: c.is_server_live(), network_timeout=self.timeout)
            )
        except (TritonError, InferenceServerException):
            return False

    def version_ready(self, model: str, version: int) -> bool:
        """True if ``/v2/models/<model>/versions/<version>/ready`` answers 200; never raises.

        A data-plane read: it does not take the control lock, so it answers while a load is in
        progress (for readiness probes).
        """
        try:
            return bool(
                self._call(
                    f"ready {model}",
                    lambda c: c.is_model_ready(model, str(version)),
                    network_timeout=self.timeout,
                    locked=False,
                )
            )
        except (TritonError, InferenceServerException):
            return False

    def index(self) -> list[RepositoryEntry]:
        """Every model directory and loaded version in the repository.

        Names starting with ``.`` (our ``.staging`` and metadata directories) are left out.
        Raises ``TritonUnavailable`` or ``TritonError`` (request refused).
        """

        def fetch(client: Any) -> list[dict[str, Any]]:
            try:
                return list(client.get_model_repository_index())
            except InferenceServerException as exc:
                raise TritonError(f"repository index refused: {exc.message()}") from exc

        def fetch_grpc(client: Any, timeout: float) -> list[dict[str, Any]]:
            try:
                answer = client.get_model_repository_index(as_json=True, client_timeout=timeout)
            except InferenceServerException as exc:
                if exc.status() in GRPC_UNREACHABLE:
                    raise
                raise TritonError(f"repository index refused: {exc.message()}") from exc
            return list(answer.get("models", []))

        entries = []
        for row in self._control("index", fetch, fetch_grpc, timeout=self.timeout):
            name = str(row.get("name", ""))
            if not name or name.startswith("."):
                continue
            raw_version = row.get("version")
            entries.append(
                RepositoryEntry(
                    name=name,
                    version=int(raw_version) if raw_version not in (None, "") else None,
                    state=str(row.get("state", "")),
                    reason=str(row.get("reason", "")),
                )
            )
        return entries

    def versions(self, model: str) -> dict[int, RepositoryEntry]:
        """Index rows of ``model`` keyed by version (only rows that have a version)."""
        return {e.version: e for e in self.index() if e.name == model and e.version is not None}

    def ready_versions(self, model: str) -> set[int]:
        """Versions of ``model`` the index shows READY."""
        return {v for v, e in self.versions(model).items() if e.state == "READY"}

    def load(self, model: str, config_json: str | None = None) -> None:
        """Load (or reload) ``model``; ``config_json`` overrides its config.pbtxt.

        Returns when Triton answered 200 (not proof of READY: use ``wait_ready``).
        Raises ``TritonLoadError`` with Triton's reason when refused, ``TritonUnavailable``.
        """

        def do(client: Any) -> None:
            try:
                client.load_model(model, config=config_json)
            except InferenceServerException as exc:
                raise TritonLoadError(model, [], exc.message() or str(exc)) from exc

        def do_grpc(client: Any, timeout: float) -> None:
            try:
                client.load_model(model, config=config_json, client_timeout=timeout)
            except InferenceServerException as exc:
                if exc.status() in GRPC_UNREACHABLE:
                    raise
                raise TritonLoadError(model, [], exc.message() or str(exc)) from exc

        self._control(f"load {model}", do, do_grpc, timeout=self.load_timeout)

    def unload(self, model: str) -> None:
        """Unload every version of ``model`` (Triton lets in-flight requests finish).

        Raises ``TritonError`` when refused, ``TritonUnavailable``.
        """

        def do(client: Any) -> None:
            try:
                client.unload_model(model)
            except InferenceServerException as exc:
                raise TritonError(f"unload of {model!r} refused: {exc.message()}") from exc

        def do_grpc(client: Any, timeout: float) -> None:
            try:
                client.unload_model(model, client_timeout=timeout)
            except InferenceServerException as exc:
                if exc.status() in GRPC_UNREACHABLE:
                    raise
                raise TritonError(f"unload of {model!r} refused: {exc.message()}") from exc

        self._control(f"unload {model}", do, do_grpc, timeout=self.timeout)

    def wait_ready(
        self, model: str, versions: Iterable[int], timeout: float, *, poll: float = 0.05
    ) -> None:
        """Poll the index until every one of ``versions`` of ``model`` is READY.

        Args:
            model: model name.
            versions: version numbers that must all be READY.
            timeout: seconds to wait.
            poll: seconds between index requests.

        Raises:
            TritonLoadError: a version is UNAVAILABLE (with Triton's reason), or not all were READY
                within ``timeout`` (naming each version's last state).
            TritonUnavailable: the server cannot be reached.
        """
        wanted = sorted(set(versions))
        deadline = time.monotonic() + timeout
        while True:
            rows = self.versions(model)
            for version in wanted:
                row = rows.get(version)
                if row is not None and row.state == "UNAVAILABLE":
                    raise TritonLoadError(model, [version], row.reason or "UNAVAILABLE")
            if all(v in rows and rows[v].state == "READY" for v in wanted):
                return
            if time.monotonic() >= deadline:
                states = ", ".join(
                    f"{v}: {rows[v].state if v in rows else 'absent from the index'}"
                    for v in wanted
                )
                raise TritonLoadError(
                    model, wanted, f"not READY after {timeout:.1f}s ({states})", timed_out=True
                )
            time.sleep(poll)

    def wait_not_ready(
        self, model: str, versions: Iterable[int], timeout: float, *, poll: float = 0.05
    ) -> bool:
        """Poll until none of ``versions`` is READY (UNLOADING counts as gone); True if so.

        Returns False after ``timeout`` seconds instead of raising (an old version that lingers is
        not an error for the caller's new version). Raises ``TritonUnavailable``.
        """
        unwanted = set(versions)
        deadline = time.monotonic() + timeout
        while True:
            if not unwanted & self.ready_versions(model):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)
